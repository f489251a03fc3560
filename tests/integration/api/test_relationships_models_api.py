"""Relationships (validation, multiplicity, listing) and models (upload, list, decommission, delete) over HTTP."""

from __future__ import annotations

from tests.support.dtdl_samples import BUILDING, CTX, FLOOR, OFFICE, ROOM, THERMOSTAT, room
from tests.support.platform import ApiRig


def _graph(rig: ApiRig) -> None:
    rig.call("PUT", "/api/v1/twins/b1", json={"$metadata": {"$model": BUILDING}, "address": "Main St"})
    rig.call("PUT", "/api/v1/twins/f1", json={"$metadata": {"$model": FLOOR}, "level": 1})
    rig.call("PUT", "/api/v1/twins/r1", json=room())
    rig.call("PUT", "/api/v1/twins/o1", json={**room(model=OFFICE), "desks": 2})


def test_relationship_crud_and_validation(rig: ApiRig) -> None:
    _graph(rig)
    put = rig.call("PUT", "/api/v1/twins/f1/relationships/c1",
                   json={"$targetId": "o1", "$relationshipName": "contains", "since": "2024"})
    assert put.status_code == 201, put.text  # an Office is a Room: inheritance accepted
    doc = put.json()
    assert doc["$sourceId"] == "f1" and doc["$targetId"] == "o1" and doc["since"] == "2024"
    assert rig.call("GET", "/api/v1/twins/f1/relationships/c1").json() == doc
    cases = [
        ({"$targetId": "b1", "$relationshipName": "contains"}, "$targetId"),  # wrong target model
        ({"$targetId": "r1", "$relationshipName": "owns"}, "$relationshipName"),  # unknown name
        ({"$targetId": "r1", "$relationshipName": "contains", "colour": 1}, "/colour"),  # unknown property
        ({"$targetId": "nope", "$relationshipName": "contains"}, "$targetId"),  # missing target
    ]
    for body, where in cases:
        r = rig.call("PUT", "/api/v1/twins/f1/relationships/bad", json=body)
        assert r.status_code == 422, body
        assert where in r.json()["problems"][0]["where"], r.json()
    patched = rig.call("PATCH", "/api/v1/twins/f1/relationships/c1",
                       json=[{"op": "replace", "path": "/since", "value": "2025"}], headers={"If-Match": doc["$etag"]})
    assert patched.status_code == 200 and patched.json()["since"] == "2025"
    assert rig.call("PATCH", "/api/v1/twins/f1/relationships/c1", json=[{"op": "add", "path": "/x", "value": 1}]
                    ).status_code == 422
    assert rig.call("DELETE", "/api/v1/twins/f1/relationships/c1", headers={"If-Match": doc["$etag"]}
                    ).status_code == 412
    assert rig.call("DELETE", "/api/v1/twins/f1/relationships/c1").status_code == 204
    assert rig.call("GET", "/api/v1/twins/f1/relationships/c1").status_code == 404


def test_multiplicity_enforced(rig: ApiRig) -> None:
    _graph(rig)
    ok = rig.call("PUT", "/api/v1/twins/f1/relationships/e1", json={"$targetId": "b1", "$relationshipName": "exit"})
    assert ok.status_code == 201
    # Replacing the same relationship does not count twice; a second one exceeds maxMultiplicity 1.
    assert rig.call("PUT", "/api/v1/twins/f1/relationships/e1",
                    json={"$targetId": "r1", "$relationshipName": "exit"}).status_code == 200
    second = rig.call("PUT", "/api/v1/twins/f1/relationships/e2", json={"$targetId": "b1", "$relationshipName": "exit"})
    assert second.status_code == 422 and "allows 1" in second.json()["detail"]


def test_outgoing_filter_and_incoming(rig: ApiRig) -> None:
    _graph(rig)
    rig.call("PUT", "/api/v1/twins/b1/relationships/h1", json={"$targetId": "f1", "$relationshipName": "hasFloor"})
    for i, target in enumerate(["r1", "o1"]):
        rig.call("PUT", f"/api/v1/twins/f1/relationships/c{i}",
                 json={"$targetId": target, "$relationshipName": "contains"})
    rig.call("PUT", "/api/v1/twins/f1/relationships/e", json={"$targetId": "b1", "$relationshipName": "exit"})
    out = rig.call("GET", "/api/v1/twins/f1/relationships", params={"relationshipName": "contains"}).json()
    assert [r["$relationshipId"] for r in out["value"]] == ["c0", "c1"]
    all_out = rig.call("GET", "/api/v1/twins/f1/relationships", params={"maxItemsPerPage": 2}).json()
    assert len(all_out["value"]) == 2 and all_out["continuationToken"]
    rest = rig.call("GET", "/api/v1/twins/f1/relationships",
                    params={"continuationToken": all_out["continuationToken"]}).json()
    assert [r["$relationshipId"] for r in rest["value"]] == ["e"]
    incoming = rig.call("GET", "/api/v1/twins/f1/incomingrelationships").json()["value"]
    assert incoming == [{"$relationshipId": "h1", "$sourceId": "b1", "$relationshipName": "hasFloor",
                         "$relationshipLink": "/api/v1/twins/b1/relationships/h1"}]
    assert rig.call("GET", "/api/v1/twins/nope/relationships").status_code == 404


def test_models_upload_list_get_conflict(rig: ApiRig) -> None:
    listed = rig.call("GET", "/api/v1/models").json()["value"]
    assert {m["id"] for m in listed} == {BUILDING, FLOOR, ROOM, OFFICE, THERMOSTAT}
    office = rig.call("GET", f"/api/v1/models/{OFFICE}").json()
    assert office["dependencies"] == [ROOM] and office["model"]["@id"] == OFFICE
    deps = rig.call("GET", "/api/v1/models", params={"dependenciesFor": OFFICE}).json()["value"]
    assert {m["id"] for m in deps} == {OFFICE, ROOM, THERMOSTAT}
    again = rig.call("POST", "/api/v1/models", json=[{"@context": CTX, "@id": ROOM, "@type": "Interface"}])
    assert again.status_code == 409
    # A new model may reference models uploaded earlier (parsed together with the tenant's set).
    lab = {"@context": CTX, "@id": "dtmi:test:Lab;1", "@type": "Interface", "extends": ROOM}
    assert rig.call("POST", "/api/v1/models", json=[lab]).status_code == 201
    broken = {"@context": CTX, "@id": "dtmi:test:Broken;1", "@type": "Interface", "extends": "dtmi:test:Missing;1"}
    r = rig.call("POST", "/api/v1/models", json=[broken])
    assert r.status_code == 422 and r.json()["problems"]
    assert rig.call("GET", "/api/v1/models/dtmi:test:Broken;1").status_code == 404


def test_decommission_and_delete_rules(rig: ApiRig) -> None:
    rig.call("PUT", "/api/v1/twins/r1", json=room())
    assert rig.call("DELETE", f"/api/v1/models/{ROOM}").status_code == 409  # twins use it
    assert rig.call("DELETE", f"/api/v1/models/{THERMOSTAT}").status_code == 409  # Room contains it
    ops = [{"op": "replace", "path": "/decommissioned", "value": True}]
    assert rig.call("PATCH", f"/api/v1/models/{ROOM}", json=ops).status_code == 204
    assert rig.call("GET", f"/api/v1/models/{ROOM}").json()["decommissioned"] is True
    assert rig.call("PUT", "/api/v1/twins/r2", json=room()).status_code == 422  # no new twins of it
    assert rig.call("PATCH", "/api/v1/twins/r1", json=[{"op": "replace", "path": "/temperature", "value": 1.0}]
                    ).status_code == 200  # existing twins keep working
    assert rig.call("PATCH", f"/api/v1/models/{ROOM}", json=[{"op": "replace", "path": "/x", "value": 1}]
                    ).status_code == 422
    assert rig.call("DELETE", f"/api/v1/models/{BUILDING}").status_code == 204
    assert rig.call("GET", f"/api/v1/models/{BUILDING}").status_code == 404
