"""ADT queries over 10,000 CIM energy-grid twins and 30,000 relationships, checked against a Python oracle.

The graph is deterministic (seeded); expected results are computed from the documents in plain Python, with model
inheritance taken from the raw ``extends`` fields. The same table runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.query.energygrid_data import (
    MISSING,
    Graph,
    Ontology,
    build,
    get,
    is_num,
    to_rows,
    trails,
)
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.query import execute_query

TENANT, OTHER = "grid", "intruder"
CIM = "dtmi:digitaltwins:ngsi_ld:cim:energy:"


def _load(engine: sa.Engine, graph: Graph) -> None:
    schema.metadata.create_all(engine)
    twin_rows, rel_rows = to_rows(graph)
    with engine.begin() as conn:
        conn.execute(schema.twins.insert(), [{"tenant": TENANT, **r} for r in twin_rows])
        conn.execute(schema.relationships.insert(), [{"tenant": TENANT, **r} for r in rel_rows])
        # Another tenant with the same twin ids and a twist in the data: none of it may leak into TENANT's results.
        decoys = [{"tenant": OTHER, **r, "contents": {**r["contents"], "rating": 5, "name": "alpha-000"}}
                  for r in twin_rows[:300]]
        conn.execute(schema.twins.insert(), decoys)
        ids = {r["id"] for r in decoys}
        conn.execute(schema.relationships.insert(), [
            {"tenant": OTHER, **r} for r in rel_rows if r["source_id"] in ids and r["target_id"] in ids])


def _key(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


def _cases(onto: Ontology, g: Graph) -> list[tuple[str, Callable[[], list[Any]], dict[str, Any]]]:
    """(query, expected rows or expected count for TOP, options) built from the generated data."""
    twins = list(g.twins.values())
    ids = sorted(g.twins)
    out_rels: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in g.rels:
        out_rels[(r["$sourceId"], r["$relationshipName"])].append(r)

    def of_model(doc: dict[str, Any], dtmi: str, exact: bool = False) -> bool:
        model = doc["$metadata"]["$model"]
        return model == dtmi if exact else dtmi in onto.ancestors(model)

    names = Counter(r["$relationshipName"] for r in g.rels)
    rel1 = names.most_common(1)[0][0]
    # A two-hop chain that really occurs in the data: the most frequent (name1, name2) pair.
    by_source = out_rels_by_source(g)
    chains = Counter((r1["$relationshipName"], r2["$relationshipName"])
                     for r1 in g.rels for r2 in by_source.get(r1["$targetId"], []))
    (c1, c2), _ = chains.most_common(1)[0]
    starts = [i for i in ids if out_rels.get((i, c1))][:40]
    anchor = max(ids, key=lambda i: len(by_source.get(i, [])))  # a well-connected twin
    incoming = Counter(r["$targetId"] for r in g.rels)
    sink = max(ids, key=lambda i: incoming[i])
    hub = starts[0]
    some = ids[::997][:10]
    conducting, switch = CIM + "ConductingEquipment;1", CIM + "Switch;1"
    Pred = Callable[[dict[str, Any]], Any]

    def twin_star(pred: Pred) -> Callable[[], list[Any]]:
        return lambda: [d for d in twins if pred(d)]

    def ids_of(pred: Pred) -> Callable[[], list[Any]]:
        return lambda: [{"$dtId": d["$dtId"]} for d in twins if pred(d)]

    return [
        (f"SELECT * FROM DIGITALTWINS WHERE $dtId = '{anchor}'", twin_star(lambda d: d["$dtId"] == anchor), {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.r > 100.5 AND T.r <= 400",
         ids_of(lambda d: is_num(get(d, "r")) and 100.5 < d["r"] <= 400), {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.name = 'alpha-007' OR STARTSWITH(T.name, 'bravo-00')",
         ids_of(lambda d: get(d, "name") == "alpha-007" or (isinstance(get(d, "name"), str)
                                                            and d["name"].startswith("bravo-00"))), {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE ENDSWITH(T.name, '-42') OR CONTAINS(T.mRID, 'o-99')",
         ids_of(lambda d: (isinstance(get(d, "name"), str) and d["name"].endswith("-42"))
                or (isinstance(get(d, "mRID"), str) and "o-99" in d["mRID"])), {}),
        (f"SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{conducting}')",
         ids_of(lambda d: of_model(d, conducting)), {}),
        (f"SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{switch}', exact)",
         ids_of(lambda d: of_model(d, switch, exact=True)), {}),
        (f"SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('{switch}') AND NOT IS_OF_MODEL('{switch}', exact)",
         lambda: [{"COUNT": sum(of_model(d, switch) and not of_model(d, switch, True) for d in twins)}], {}),
        ("SELECT COUNT() FROM DIGITALTWINS", lambda: [{"COUNT": len(twins)}], {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.rating IN [1, 2, '3', null]",
         ids_of(lambda d: get(d, "rating") is not MISSING and any(
             type(get(d, "rating")) is type(v) and get(d, "rating") == v for v in (1, 2, "3", None))), {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.rating NIN [1, 2, '3']",
         ids_of(lambda d: (get(d, "rating") is not MISSING and get(d, "rating") not in (1, 2)
                and get(d, "rating") != "3") or (get(d, "rating") in (1, 2) and isinstance(d["rating"], bool))),
         {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE NOT (T.rating > 5)",
         ids_of(lambda d: is_num(get(d, "rating")) and not d["rating"] > 5), {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_DEFINED(T.rating) AND NOT IS_NUMBER(T.rating)",
         ids_of(lambda d: get(d, "rating") is not MISSING and not is_num(d["rating"])), {}),
        ("SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_NULL(T.rating) OR IS_STRING(T.rating) AND T.rating >= '7'",
         ids_of(lambda d: get(d, "rating") is None or (isinstance(get(d, "rating"), str) and d["rating"] >= "7")),
         {}),
        ("SELECT T.$dtId, T.geo.lat AS lat FROM DIGITALTWINS T WHERE T.geo.lat > 69.5 AND T.geo.site.code = 'golf'",
         lambda: [{"$dtId": d["$dtId"], "lat": d["geo"]["lat"]} for d in twins
                  if is_num(get(d, "geo", "lat")) and d["geo"]["lat"] > 69.5
                  and get(d, "geo", "site", "code") == "golf"],
         {}),
        ("SELECT T.$dtId, T.rating FROM DIGITALTWINS T WHERE T.$dtId IN "
         + json.dumps(some).replace('"', "'"),
         lambda: [{"$dtId": d["$dtId"], **({"rating": d["rating"]} if "rating" in d else {})}
                  for d in twins if d["$dtId"] in some], {}),
        (f"SELECT T.$dtId AS s, C.$dtId AS c, R.weight AS w FROM DIGITALTWINS T JOIN C RELATED T.{rel1} R "
         f"WHERE IS_OF_MODEL(C, '{conducting}') AND R.weight > 0.9",
         lambda: [{"s": r["$sourceId"], "c": r["$targetId"], "w": r["weight"]} for r in g.rels
                  if r["$relationshipName"] == rel1 and of_model(g.twins[r["$targetId"]], conducting)
                  and is_num(r.get("weight", MISSING)) and r["weight"] > 0.9], {}),
        (f"SELECT A.$dtId AS a, B.$dtId AS b, C.$dtId AS c FROM DIGITALTWINS A JOIN B RELATED A.{c1} "
         f"JOIN C RELATED B.{c2} WHERE A.$dtId IN " + json.dumps(starts).replace('"', "'"),
         lambda: [{"a": s, "b": r1["$targetId"], "c": r2["$targetId"]} for s in starts
                  for r1 in out_rels.get((s, c1), []) for r2 in out_rels.get((r1["$targetId"], c2), [])], {}),
        (f"SELECT B.$dtId AS id FROM DIGITALTWINS MATCH (A)-[*1..3]->(B) WHERE A.$dtId = '{anchor}'",
         lambda: [{"id": i} for i in trails(g, anchor, None, 1, 3, "out")], {}),
        (f"SELECT B.$dtId AS id FROM DIGITALTWINS MATCH (A)-[:{c1}|{c2}*2..4]-(B) WHERE A.$dtId = '{hub}'",
         lambda: [{"id": i} for i in trails(g, hub, {c1, c2}, 2, 4, "any")], {}),
        (f"SELECT B.$dtId AS id FROM DIGITALTWINS MATCH (B)-[*..2]->(A) WHERE A.$dtId = '{sink}'",
         lambda: [{"id": i} for i in trails(g, sink, None, 1, 2, "in")], {}),
        (f"SELECT R.$relationshipId AS r, B.$dtId AS b FROM DIGITALTWINS MATCH (A)-[R]->(B) "
         f"WHERE A.$dtId = '{anchor}' AND R.weight < 0.5",
         lambda: [{"r": r["$relationshipId"], "b": r["$targetId"]} for r in g.rels if r["$sourceId"] == anchor
                  and is_num(r.get("weight", MISSING)) and r["weight"] < 0.5], {}),
        (f"SELECT * FROM RELATIONSHIPS R WHERE R.$relationshipName = '{rel1}' AND R.info.k >= 8",
         lambda: [r for r in g.rels if r["$relationshipName"] == rel1 and is_num(get(r, "info", "k"))
                  and r["info"]["k"] >= 8], {}),
        ("SELECT TOP(25) T.$dtId FROM DIGITALTWINS T WHERE IS_STRING(T.name)",
         ids_of(lambda d: isinstance(get(d, "name"), str)), {"top": 25}),
        (f"SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{CIM}IdentifiedObject;1')",
         lambda: [{"T": d} for d in twins if of_model(d, CIM + "IdentifiedObject;1")], {"page_size": 700}),
        ("SELECT TOP(1700) T.$dtId FROM DIGITALTWINS T", ids_of(lambda d: True), {"top": 1700, "page_size": 600}),
    ]


def out_rels_by_source(g: Graph) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in g.rels:
        out[r["$sourceId"]].append(r)
    return out


def _run_all(conn: sa.Connection, text: str, resolve: Callable[[str, bool], set[str]], page_size: int,
             tenant: str = TENANT) -> tuple[list[Any], int]:
    items: list[Any] = []
    pages, token = 0, None
    while True:
        page = execute_query(conn, tenant=tenant, text=text, resolve_models=resolve, page_size=page_size,
                             continuation=token)
        items.extend(page.items)
        pages += 1
        token = page.continuation
        if token is None:
            return items, pages


@pytest.fixture(scope="module")
def grid() -> tuple[Ontology, Graph]:
    onto = Ontology.load()
    assert len(onto.interfaces) > 100
    return onto, build(onto)


def test_energygrid_queries(db_url: str, grid: tuple[Ontology, Graph]) -> None:
    onto, g = grid
    engine = sa.create_engine(db_url)
    started = time.perf_counter()
    _load(engine, g)
    resolve = lambda dtmi, exact: {dtmi} if exact else onto.descendants(dtmi)  # noqa: E731
    failures: list[str] = []
    with engine.connect() as conn:
        for text, expected_fn, opts in _cases(onto, g):
            expected = expected_fn()
            page_size = opts.get("page_size", 1000)
            got, pages = _run_all(conn, text, resolve, page_size)
            want = sorted(map(_key, expected))
            have = sorted(map(_key, got))
            if not want:
                failures.append(f"{text}\n  the oracle expects no rows, so this case would test nothing")
            if "top" in opts:
                ok = len(have) == min(opts["top"], len(want)) and set(have) <= set(want) \
                    and len(set(have)) == len(have)
            else:
                ok = have == want
            if ok and len(have) > page_size and pages < 2:  # large results must really have been paged
                ok = False
            if not ok:
                missing, extra = sorted(set(want) - set(have))[:3], sorted(set(have) - set(want))[:3]
                failures.append(f"{text}\n  expected {len(want)} rows, got {len(have)} in {pages} pages; "
                                f"missing {missing} extra {extra}")
        # Tenant isolation: the decoy tenant sees only its own 300 twins, and never ours.
        other, _ = _run_all(conn, "SELECT COUNT() FROM DIGITALTWINS WHERE rating = 5", resolve, 1000, OTHER)
        assert other == [{"COUNT": 300}]
        ours, _ = _run_all(conn, "SELECT COUNT() FROM DIGITALTWINS", resolve, 1000)
        assert ours == [{"COUNT": len(g.twins)}]
    engine.dispose()
    assert not failures, "\n".join(failures)
    assert time.perf_counter() - started < 60
