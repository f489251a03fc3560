"""Twins over HTTP: ADT document shape, validation, ETags, JSON Patch, delete rules, problem+json."""

from __future__ import annotations

from tests.support.dtdl_samples import FLOOR, OFFICE, ROOM, room
from tests.support.platform import ApiRig
from tvilling.core.roles import Role

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "problems"}


def test_create_get_document_shape(rig: ApiRig) -> None:
    r = rig.call("PUT", "/api/v1/twins/r1", json=room(20.5))
    assert r.status_code == 201
    doc = r.json()
    assert doc["$dtId"] == "r1" and doc["$etag"] == r.headers["etag"]
    assert doc["$metadata"]["$model"] == ROOM
    assert doc["temperature"] == 20.5
    assert set(doc["$metadata"]["temperature"]) == {"lastUpdateTime"}
    assert doc["thermostat"]["setpoint"] == 21.0 and "setpoint" in doc["thermostat"]["$metadata"]
    got = rig.call("GET", "/api/v1/twins/r1", role=Role.VIEWER)
    assert got.status_code == 200 and got.json() == doc


def test_validation_refuses_unknown_and_wrong_types(rig: ApiRig) -> None:
    bad = room()
    bad["colour"] = "red"
    r = rig.call("PUT", "/api/v1/twins/r1", json=bad)
    assert r.status_code == 422
    body = r.json()
    assert body.keys() >= PROBLEM_KEYS and r.headers["content-type"].startswith("application/problem+json")
    assert body["problems"][0]["where"] == "/colour" and "colour" in body["problems"][0]["message"]
    wrong = room()
    wrong["temperature"] = "hot"
    assert rig.call("PUT", "/api/v1/twins/r1", json=wrong).status_code == 422
    missing = rig.call("PUT", "/api/v1/twins/r1", json={"$metadata": {"$model": "dtmi:test:Nope;1"}})
    assert missing.status_code == 422 and missing.json()["problems"][0]["where"] == "$metadata.$model"


def test_if_none_match_and_if_match(rig: ApiRig) -> None:
    first = rig.call("PUT", "/api/v1/twins/r1", json=room(), headers={"If-None-Match": "*"})
    assert first.status_code == 201
    again = rig.call("PUT", "/api/v1/twins/r1", json=room(), headers={"If-None-Match": "*"})
    assert again.status_code == 412
    etag = first.headers["etag"]
    patch = [{"op": "replace", "path": "/temperature", "value": 25.0}]
    ok = rig.call("PATCH", "/api/v1/twins/r1", json=patch, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["temperature"] == 25.0 and ok.headers["etag"] != etag
    stale = rig.call("PATCH", "/api/v1/twins/r1", json=patch, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["problems"][0]["where"] == "If-Match"
    assert rig.call("DELETE", "/api/v1/twins/r1", headers={"If-Match": etag}).status_code == 412


def test_patch_is_validated_after_applying_and_updates_metadata(rig: ApiRig) -> None:
    created = rig.call("PUT", "/api/v1/twins/r1", json=room()).json()
    before = created["$metadata"]["temperature"]["lastUpdateTime"]
    r = rig.call("PATCH", "/api/v1/twins/r1", role=Role.OPERATOR,
                 json=[{"op": "replace", "path": "/thermostat/setpoint", "value": 22.5}])
    assert r.status_code == 200
    doc = r.json()
    assert doc["thermostat"]["setpoint"] == 22.5
    assert doc["thermostat"]["$metadata"]["setpoint"]["lastUpdateTime"] > before
    assert doc["$metadata"]["temperature"]["lastUpdateTime"] == before  # untouched property keeps its time
    for ops in ([{"op": "add", "path": "/bogus", "value": 1}],
                [{"op": "replace", "path": "/temperature", "value": "warm"}],
                [{"op": "replace", "path": "/$dtId", "value": "x"}],
                [{"op": "remove", "path": "/nothing"}],
                {"op": "add"}):
        bad = rig.call("PATCH", "/api/v1/twins/r1", json=ops)
        assert bad.status_code == 422, ops
    assert rig.call("GET", "/api/v1/twins/r1").json()["thermostat"]["setpoint"] == 22.5


def test_delete_refused_while_relationships_exist(rig: ApiRig) -> None:
    rig.call("PUT", "/api/v1/twins/r1", json=room())
    rig.call("PUT", "/api/v1/twins/f1", json={"$metadata": {"$model": FLOOR}, "level": 1})
    rel = rig.call("PUT", "/api/v1/twins/f1/relationships/c1",
                   json={"$targetId": "r1", "$relationshipName": "contains"})
    assert rel.status_code == 201
    for twin in ("r1", "f1"):  # incoming and outgoing both block
        r = rig.call("DELETE", f"/api/v1/twins/{twin}")
        assert r.status_code == 409 and "relationship" in r.json()["detail"]
    assert rig.call("DELETE", "/api/v1/twins/f1/relationships/c1").status_code == 204
    assert rig.call("DELETE", "/api/v1/twins/r1").status_code == 204
    assert rig.call("GET", "/api/v1/twins/r1").status_code == 404


def test_list_by_model_includes_subtypes_and_pages(rig: ApiRig) -> None:
    for i in range(5):
        rig.call("PUT", f"/api/v1/twins/room{i}", json=room())
    rig.call("PUT", "/api/v1/twins/office", json={**room(model=OFFICE), "desks": 4})
    rig.call("PUT", "/api/v1/twins/floor", json={"$metadata": {"$model": FLOOR}})
    seen, token = [], None
    while True:
        params = {"model": ROOM, "maxItemsPerPage": 2, **({"continuationToken": token} if token else {})}
        page = rig.call("GET", "/api/v1/twins", params=params).json()
        assert len(page["value"]) <= 2
        seen.extend(t["$dtId"] for t in page["value"])
        token = page["continuationToken"]
        if not token:
            break
    assert seen == sorted([f"room{i}" for i in range(5)] + ["office"])
    assert rig.call("GET", "/api/v1/twins", params={"continuationToken": "%%%"}).status_code == 422
    assert rig.call("GET", "/api/v1/twins", params={"continuationToken": "abc.00000000"}).status_code == 422


def test_hostile_bodies_are_4xx(rig: ApiRig) -> None:
    nan = rig.call("PUT", "/api/v1/twins/r1", content=b'{"$metadata": {"$model": "%s"}, "temperature": NaN}'
                   % ROOM.encode(), headers={"Content-Type": "application/json"})
    assert nan.status_code == 422
    deep = b"[" * 5000 + b"]" * 5000
    assert rig.call("PATCH", "/api/v1/twins/r1", content=deep,
                    headers={"Content-Type": "application/json"}).status_code == 422
    nul = rig.call("PUT", "/api/v1/twins/r1", json={**room(), "name": "a\u0000b"})
    assert nul.status_code == 422
    big = rig.call("PUT", "/api/v1/twins/r1", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["status"] == 413
    assert rig.call("PUT", "/api/v1/twins/r1", content=b"{nope").status_code == 422


def test_events_recorded_with_old_and_new(rig: ApiRig) -> None:
    rig.call("PUT", "/api/v1/twins/r1", json=room(20.0))
    rig.call("PATCH", "/api/v1/twins/r1", json=[{"op": "replace", "path": "/temperature", "value": 30.0}])
    with rig.platform.store.read() as tx:
        events = tx.events.list("acme", subject="r1")
    kinds = [e.event.kind for e in events]
    assert kinds == ["twin.created", "twin.updated"]
    updated = events[1].event
    assert updated.data["old"]["temperature"] == 20.0 and updated.data["new"]["temperature"] == 30.0
    assert updated.actor.startswith("token:") and updated.context_id
