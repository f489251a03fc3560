"""The ADT query compiler on both backends (SQLite and PostgreSQL) over a small hand-made graph.

Semantics under test: different JSON types never compare (undefined, so neither the comparison nor its NOT
matches), missing properties are undefined, projections omit missing properties, tenant scoping, paging tokens.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.services import unavailable
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.query import QueryPage, execute_query
from tvilling.core.errors import QuerySyntaxError, ValidationError

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
MODELS = {"dtmi:t:Asset;1": {"dtmi:t:Asset;1", "dtmi:t:Pump;1", "dtmi:t:BigPump;1"},
          "dtmi:t:Pump;1": {"dtmi:t:Pump;1", "dtmi:t:BigPump;1"}}
TWINS: dict[str, tuple[str, dict[str, Any]]] = {
    "p1": ("dtmi:t:Pump;1", {"v": 5, "name": "Alpha", "on": True, "cfg": {"sp": 20.5, "mode": "auto"}}),
    "p2": ("dtmi:t:Pump;1", {"v": "5", "name": "alpha", "on": False, "cfg": {"sp": 30}}),
    "p3": ("dtmi:t:BigPump;1", {"v": 12.5, "name": "Beta", "x": None}),
    "a1": ("dtmi:t:Asset;1", {"v": None, "name": "Gamma%_", "cfg": {"mode": "manual"}}),
    "a2": ("dtmi:t:Asset;1", {"name": 7, "lo": 3, "hi": 9}),
    "o1": ("dtmi:t:Other;1", {"v": [1, 2], "lo": 10, "hi": 2}),
}
RELS = [("p1", "r1", "feeds", "p2", {"w": 1}), ("p2", "r2", "feeds", "p3", {"w": 2}),
        ("p3", "r3", "feeds", "a1", {"w": "3"}), ("a1", "r4", "feeds", "p1", {}),
        ("p1", "r5", "owns", "a2", {"w": 5}), ("a2", "r6", "owns", "o1", {})]


def resolve(dtmi: str, exact: bool) -> set[str]:
    return {dtmi} if exact else MODELS.get(dtmi, {dtmi})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def conn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One read-only database per backend for the whole module (the tests never write), to keep the suite fast."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('q') / 'q.db'}"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        if cluster is None:
            unavailable("PostgreSQL could not be started (see tests/support/postgres.py)")
        url = cluster.create_database("q_" + uuid.uuid4().hex[:12])
    engine = sa.create_engine(url)
    schema.metadata.create_all(engine)
    with engine.begin() as c:
        for tenant in ("t1", "t2"):
            c.execute(schema.twins.insert(), [
                {"tenant": tenant, "id": tid, "model_id": model,
                 "contents": contents if tenant == "t1" else {"v": 5, "name": "Alpha"},
                 "meta": {"v": {"lastUpdateTime": "2025-01-01T00:00:00Z"}}, "etag": f"e-{tid}", "version": 1,
                 "last_update_time": NOW} for tid, (model, contents) in TWINS.items()])
            c.execute(schema.relationships.insert(), [
                {"tenant": tenant, "source_id": s, "id": i, "name": n, "target_id": t, "properties": p,
                 "etag": "e"} for s, i, n, t, p in RELS])
    with engine.connect() as c:
        yield c
    engine.dispose()


def run(conn: Any, text: str, **kw: Any) -> QueryPage:
    return execute_query(conn, tenant=kw.pop("tenant", "t1"), text=text, resolve_models=resolve, **kw)


def ids(conn: Any, where: str) -> list[str]:
    page = run(conn, f"SELECT T.$dtId AS id FROM DIGITALTWINS T WHERE {where}")
    return [row["id"] for row in page.items]


@pytest.mark.parametrize(("where", "expected"), [
    ("T.v = 5", ["p1"]),
    ("T.v = '5'", ["p2"]),
    ("T.v != 5", ["p3"]),  # other types (p2's "5", null, arrays, missing) are undefined
    ("NOT (T.v = 5)", ["p3"]),
    ("T.v > 4", ["p1", "p3"]),
    ("NOT (T.v > 10)", ["p1"]),
    ("T.v = null", ["a1"]),
    ("T.on = true", ["p1"]),
    ("T.on != true", ["p2"]),
    ("T.name < 'B'", ["p1"]),  # binary order: upper case first; 'alpha' (p2) sorts after 'B'
    ("T.cfg.sp >= 25", ["p2"]),
    ("T.cfg.mode IN ['auto', 'manual']", ["p1", "a1"]),
    ("T.v IN [5, 12.5]", ["p1", "p3"]),
    ("T.v IN [null, true]", ["a1"]),
    ("T.v NIN [5]", ["p2", "p3", "a1", "o1"]),
    ("NOT (T.v IN [5])", ["p2", "p3", "a1", "o1"]),
    ("T.$dtId IN ['p1', 'a2', 5]", ["p1", "a2"]),
    ("T.$dtId NIN ['p1', 'a2']", ["p2", "p3", "a1", "o1"]),
    ("IS_DEFINED(T.x)", ["p3"]),
    ("NOT IS_DEFINED(T.v)", ["a2"]),
    ("IS_NULL(T.x) OR IS_NULL(T.v)", ["p3", "a1"]),
    ("IS_NUMBER(T.v)", ["p1", "p3"]),
    ("IS_STRING(T.v)", ["p2"]),
    ("IS_BOOL(T.on)", ["p1", "p2"]),
    ("IS_OBJECT(T.cfg)", ["p1", "p2", "a1"]),
    ("IS_PRIMITIVE(T.v)", ["p1", "p2", "p3", "a1"]),
    ("NOT IS_PRIMITIVE(T.v)", ["a2", "o1"]),
    ("STARTSWITH(T.name, 'al')", ["p2"]),  # case-sensitive
    ("ENDSWITH(T.name, '%_')", ["a1"]),  # no LIKE wildcards leak through
    ("CONTAINS(T.name, 'et')", ["p3"]),
    ("NOT STARTSWITH(T.name, 'A')", ["p2", "p3", "a1"]),  # a2's name is a number: undefined
    ("STARTSWITH(T.$dtId, 'p')", ["p1", "p2", "p3"]),
    ("IS_OF_MODEL(T, 'dtmi:t:Pump;1')", ["p1", "p2", "p3"]),
    ("IS_OF_MODEL(T, 'dtmi:t:Pump;1', exact)", ["p1", "p2"]),
    ("NOT IS_OF_MODEL(T, 'dtmi:t:Asset;1')", ["o1"]),
    ("IS_OF_MODEL(T, 'dtmi:t:Missing;1')", []),
    ("T.$metadata.$model = 'dtmi:t:Other;1'", ["o1"]),
    ("T.$metadata.v.lastUpdateTime = '2025-01-01T00:00:00Z'", ["p1", "p2", "p3", "a1", "a2", "o1"]),
    ("T.lo < T.hi", ["a2"]),
    ("T.lo > T.hi OR T.name = T.$dtId", ["o1"]),
    ("(T.v = 5 OR T.v = '5') AND NOT T.on = false", ["p1"]),
    ("1 = 1 AND T.$etag = 'e-p3'", ["p3"]),
    ("true", ["p1", "p2", "p3", "a1", "a2", "o1"]),
])
def test_where_semantics(conn: Any, where: str, expected: list[str]) -> None:
    assert sorted(ids(conn, where)) == sorted(expected)


def test_result_shapes(conn: Any) -> None:
    star = run(conn, "SELECT * FROM DIGITALTWINS WHERE $dtId = 'p1'").items
    assert star == [{"$dtId": "p1", "$etag": "e-p1",
                     "$metadata": {"$model": "dtmi:t:Pump;1", "v": {"lastUpdateTime": "2025-01-01T00:00:00Z"}},
                     **TWINS["p1"][1]}]
    aliased = run(conn, "SELECT T FROM DIGITALTWINS T WHERE T.$dtId = 'p1'").items
    assert aliased == [{"T": star[0]}]
    proj = run(conn, "SELECT T.cfg.mode, T.v AS value, T.$metadata.$model AS m FROM DIGITALTWINS T "
                     "WHERE T.$dtId IN ['p1', 'p3']").items
    assert proj == [{"mode": "auto", "value": 5, "m": "dtmi:t:Pump;1"},
                    {"value": 12.5, "m": "dtmi:t:BigPump;1"}]  # p3 has no cfg.mode: left out
    rel = run(conn, "SELECT * FROM RELATIONSHIPS WHERE $relationshipId = 'r1'").items
    assert rel == [{"$relationshipId": "r1", "$etag": "e", "$sourceId": "p1", "$targetId": "p2",
                    "$relationshipName": "feeds", "w": 1}]
    assert run(conn, "SELECT COUNT() FROM RELATIONSHIPS R WHERE R.w > 1").items == [{"COUNT": 2}]


def test_joins(conn: Any) -> None:
    page = run(conn, "SELECT T.$dtId AS t, C.$dtId AS c, R.w AS w FROM DIGITALTWINS T "
                     "JOIN C RELATED T.feeds R WHERE IS_OF_MODEL(T, 'dtmi:t:Pump;1')")
    assert page.items == [{"t": "p1", "c": "p2", "w": 1}, {"t": "p2", "c": "p3", "w": 2},
                          {"t": "p3", "c": "a1", "w": "3"}]
    two = run(conn, "SELECT C.$dtId AS c FROM DIGITALTWINS T JOIN B RELATED T.owns JOIN C RELATED B.owns "
                    "WHERE T.$dtId = 'p1'")
    assert two.items == [{"c": "o1"}]
    count = run(conn, "SELECT COUNT() FROM DIGITALTWINS T JOIN C RELATED T.feeds WHERE C.v = 5")
    assert count.items == [{"COUNT": 1}]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("(a)-[:feeds]->(b)", ["p2"]),
    ("(a)-[:feeds*2]->(b)", ["p3"]),
    ("(a)-[:feeds*1..4]->(b)", ["p1", "p2", "p3", "a1"]),  # the 4-hop trail closes the cycle back to p1
    ("(a)-[*..2]->(b)", ["p2", "p3", "a2", "o1"]),
    ("(a)<-[:feeds]-(b)", ["a1"]),
    ("(a)-[:feeds|owns]-(b)", ["p2", "a1", "a2"]),
    ("(a)-[*2..2]-(b)", ["p3", "o1"]),  # distinct ends of 2-step trails, any direction
    ("(b)-[:feeds]->(a)", ["a1"]),
])
def test_match(conn: Any, pattern: str, expected: list[str]) -> None:
    page = run(conn, f"SELECT b.$dtId AS id FROM DIGITALTWINS MATCH {pattern} WHERE a.$dtId = 'p1'")
    assert sorted(r["id"] for r in page.items) == sorted(expected)


def test_match_relationship_variable_and_chain(conn: Any) -> None:
    page = run(conn, "SELECT r, b.$dtId AS b FROM DIGITALTWINS MATCH (a)-[r]-(b) WHERE a.$dtId = 'p1' AND r.w > 1")
    assert [(row["r"]["$relationshipId"], row["b"]) for row in page.items] == [("r5", "a2")]
    chain = run(conn, "SELECT c.$dtId AS c FROM DIGITALTWINS MATCH (a)-[:feeds]->(b)-[:feeds*1..2]->(c) "
                      "WHERE a.$dtId = 'p1' AND IS_OF_MODEL(c, 'dtmi:t:Asset;1', exact)")
    assert chain.items == [{"c": "a1"}]


def test_tenant_isolation(conn: Any) -> None:
    assert ids(conn, "T.v = 5") == ["p1"]
    other = run(conn, "SELECT T.$dtId AS id FROM DIGITALTWINS T WHERE T.v = 5", tenant="t2").items
    assert len(other) == len(TWINS)
    assert run(conn, "SELECT COUNT() FROM DIGITALTWINS", tenant="nobody").items == [{"COUNT": 0}]


def test_paging_and_tokens(conn: Any) -> None:
    text = "SELECT T.$dtId AS id FROM DIGITALTWINS T"
    seen: list[str] = []
    page = run(conn, text, page_size=4)
    while True:
        seen += [r["id"] for r in page.items]
        if page.continuation is None:
            break
        page = run(conn, text, page_size=4, continuation=page.continuation)
    assert sorted(seen) == sorted(TWINS) and len(seen) == len(set(seen))
    first = run(conn, text, page_size=2)
    assert first.continuation is not None
    with pytest.raises(ValidationError, match="different query"):
        run(conn, text + " WHERE T.v = 5", page_size=2, continuation=first.continuation)
    with pytest.raises(ValidationError, match="invalid continuation token"):
        run(conn, text, page_size=2, continuation=first.continuation[:-1] + "0")
    with pytest.raises(ValidationError, match="invalid continuation token"):
        run(conn, text, page_size=2, continuation=first.continuation, tenant="t2")
    with pytest.raises(ValidationError, match="invalid continuation token"):
        run(conn, text, continuation="garbage")
    top = run(conn, "SELECT TOP(3) T.$dtId AS id FROM DIGITALTWINS T", page_size=2)
    rest = run(conn, "SELECT TOP(3) T.$dtId AS id FROM DIGITALTWINS T", page_size=2, continuation=top.continuation)
    assert len(top.items) == 2 and len(rest.items) == 1 and rest.continuation is None
    with pytest.raises(ValidationError, match="page size"):
        run(conn, text, page_size=0)


def test_errors_surface_as_query_errors(conn: Any) -> None:
    with pytest.raises(QuerySyntaxError, match="expected FROM"):
        run(conn, "SELECT * WHERE x = 1")
    with pytest.raises(QuerySyntaxError, match=r"\$metadata is an object"):
        run(conn, "SELECT * FROM DIGITALTWINS WHERE $metadata = 1")
