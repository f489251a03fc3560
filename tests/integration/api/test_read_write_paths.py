"""The API hot paths on both backends: the twin-read fast lane answers exactly as the route does (and hands every
unusual request to the route), and concurrent writes through the API are group-committed with per-request results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support import dtdl_samples
from tests.support.platform import ApiRig
from tvilling.core.roles import Role


def _counting_verify(rig: ApiRig) -> list[int]:
    """Count database-backed token checks: the fast lane only ever uses the cache, the route calls verify."""
    tokens = rig.platform.services.tokens
    calls = [0]
    original = tokens.verify

    def verify(token: str | None) -> Any:
        calls[0] += 1
        return original(token)

    tokens.verify = verify  # type: ignore[method-assign]
    return calls


def test_fast_lane_response_equals_the_routed_one(rig: ApiRig) -> None:
    assert rig.call("PUT", "/api/v1/twins/r1", json=dtdl_samples.room()).status_code == 201
    issued = rig.platform.services.tokens.create("acme", Role.VIEWER, "fresh")  # not cached yet
    headers = {"Authorization": f"Bearer {issued.token}"}
    calls = _counting_verify(rig)
    routed = rig.client.get("/api/v1/twins/r1", headers=headers)  # cache miss: the route verifies and caches
    fast = rig.client.get("/api/v1/twins/r1", headers=headers)
    assert calls[0] == 1  # the second request never reached the route's dependency
    assert routed.status_code == fast.status_code == 200
    assert routed.content == fast.content
    for name in ("etag", "content-type", "content-length"):
        assert routed.headers[name] == fast.headers[name]
    assert fast.headers["etag"] == fast.json()["$etag"]


def test_unusual_reads_fall_through_to_the_route(rig: ApiRig) -> None:
    rig.call("PUT", "/api/v1/twins/r1", json=dtdl_samples.room())
    assert rig.call("GET", "/api/v1/twins/r1").status_code == 200  # token cached from here on
    missing = rig.call("GET", "/api/v1/twins/nope")
    assert missing.status_code == 404 and missing.json()["type"].endswith("not-found")
    assert rig.call("GET", "/api/v1/twins/r1", params={"bogus": "1"}).status_code == 422
    assert rig.call("GET", "/api/v1/twins/r1", tenant="globex").status_code == 404  # another tenant's twin
    assert rig.client.get("/api/v1/twins/r1").status_code == 401
    bad = {"Authorization": "Bearer tvl_0000000000000000_" + "0" * 48}
    assert rig.client.get("/api/v1/twins/r1", headers=bad).status_code == 401
    # Revocation takes effect at once in this process: the cached principal is dropped.
    issued = rig.platform.services.tokens.create("acme", Role.VIEWER, "short")
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert rig.client.get("/api/v1/twins/r1", headers=headers).status_code == 200
    assert rig.client.get("/api/v1/twins/r1", headers=headers).status_code == 200
    rig.platform.services.tokens.revoke("acme", issued.id)
    assert rig.client.get("/api/v1/twins/r1", headers=headers).status_code == 401


def test_concurrent_api_writes_are_group_committed(rig: ApiRig) -> None:
    writes = rig.platform.app.state.writes
    assert writes is not None  # on by default
    headers = rig.headers()

    def put(i: int) -> tuple[int, str]:
        r = rig.client.put(f"/api/v1/twins/g{i}", json=dtdl_samples.room(float(i)), headers=headers)
        return r.status_code, r.json().get("$etag", "")

    bad_body = {"$metadata": {"$model": dtdl_samples.ROOM}, "undeclared": 1}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(put, range(60)))
        refused = pool.submit(rig.client.put, "/api/v1/twins/bad", json=bad_body, headers=headers).result()
    assert [s for s, _ in results] == [201] * 60 and len({e for _, e in results}) == 60
    assert refused.status_code == 422
    assert writes.stats.items >= 61
    # Every created twin is readable with the ETag its creator was given; patches keep If-Match semantics.
    etag = results[7][1]
    assert rig.call("GET", "/api/v1/twins/g7").headers["etag"] == etag
    ok = rig.call("PATCH", "/api/v1/twins/g7", json=[{"op": "replace", "path": "/temperature", "value": 1.5}],
                  headers={"If-Match": etag})
    stale = rig.call("PATCH", "/api/v1/twins/g7", json=[{"op": "replace", "path": "/temperature", "value": 2.5}],
                     headers={"If-Match": etag})
    assert ok.status_code == 200 and stale.status_code == 412
    assert rig.call("GET", "/api/v1/twins/g7").json()["temperature"] == 1.5
