"""Issue 2 through the API: the CIM energy-grid ontology, 10,000 twins and 30,000 relationships created over HTTP,
then the store-level query table (tests/integration/query) run through POST /api/v1/query with continuation paging.

The graph comes from the same seeded generator as the store-level test, in its ``conform`` form: the API validates
every document against the ontology, so only declared properties are generated (the store-level test also writes
undeclared ones straight into the tables to exercise typing rules the API would refuse at the door). Expected
results are computed by the same plain-Python oracle, from the documents the API returned on creation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.query.energygrid_data import Graph, Ontology, build
from tests.integration.query.test_energygrid_queries import _cases, _key
from tests.support.platform import ApiRig, api_rig, database_url

TENANT = "acme"


def _upload(rig: ApiRig, onto: Ontology) -> None:
    r = rig.call("POST", "/api/v1/models", tenant=TENANT, json=list(onto.interfaces.values()))
    assert r.status_code == 201, r.text[:2000]


def _populate(rig: ApiRig, g: Graph) -> dict[str, float]:
    """Create every twin and relationship over HTTP; the stored documents replace the generated ones."""
    client: TestClient = rig.client
    headers = rig.headers(TENANT)
    t0 = time.perf_counter()
    for tid, doc in list(g.twins.items()):
        body = {k: v for k, v in doc.items() if k not in ("$dtId", "$etag")}
        body["$metadata"] = {"$model": doc["$metadata"]["$model"]}
        r = client.put(f"/api/v1/twins/{tid}", json=body, headers=headers)
        assert r.status_code == 201, (tid, r.text[:1000])
        g.twins[tid] = r.json()
    t1 = time.perf_counter()
    for i, rel in enumerate(g.rels):
        body = {k: v for k, v in rel.items() if k not in ("$relationshipId", "$sourceId", "$etag")}
        r = client.put(f"/api/v1/twins/{rel['$sourceId']}/relationships/{rel['$relationshipId']}", json=body,
                       headers=headers)
        assert r.status_code == 201, (rel, r.text[:1000])
        g.rels[i] = r.json()
    t2 = time.perf_counter()
    return {"twins_s": t1 - t0, "rels_s": t2 - t1}


def _query_all(rig: ApiRig, text: str, page_size: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    body: dict[str, Any] = {"query": text, "maxItemsPerPage": page_size}
    pages = 0
    while True:
        r = rig.call("POST", "/api/v1/query", tenant=TENANT, json=body)
        assert r.status_code == 200, (text, r.text[:1000])
        page = r.json()
        items.extend(page["value"])
        pages += 1
        if not page.get("continuationToken"):
            return items, pages
        # ADT: the follow-up request carries the token; the query text is not needed again.
        body = {"query": text, "continuationToken": page["continuationToken"], "maxItemsPerPage": page_size}


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_energygrid_through_api(backend: str, onto: Ontology, tmp_path: Path,
                                request: pytest.FixtureRequest) -> None:
    url = database_url(backend, tmp_path, request.getfixturevalue("pg_cluster"))
    g = build(onto, conform=True)
    started = time.perf_counter()
    with api_rig(url, seed_models=False) as rig:
        _upload(rig, onto)
        timings = _populate(rig, g)
        print(backend, timings)
        failures: list[str] = []
        for text, expected_fn, opts in _cases(onto, g):
            expected = expected_fn()
            page_size = opts.get("page_size", 1000)
            got, pages = _query_all(rig, text, page_size)
            want = sorted(map(_key, expected))
            have = sorted(map(_key, got))
            if "top" in opts:
                ok = len(have) == min(opts["top"], len(want)) and set(have) <= set(want)
            else:
                ok = have == want
            if not ok:
                missing, extra = sorted(set(want) - set(have))[:2], sorted(set(have) - set(want))[:2]
                failures.append(f"{text}\n  expected {len(want)} rows, got {len(have)} in {pages} pages; "
                                f"missing {missing} extra {extra}")
            print(len(want), len(have), pages, text[:80])
    assert not failures, "\n".join(failures)
    print(time.perf_counter() - started)
