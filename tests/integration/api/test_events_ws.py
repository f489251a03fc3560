"""WebSocket /api/v1/events: authenticated, tenant-scoped, filtered by twin; refuses foreign origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support.dtdl_samples import room
from tests.support.platform import ApiRig, api_rig
from tvilling.core.roles import Role


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[ApiRig]:
    with api_rig(f"sqlite:///{tmp_path / 'ws.db'}") as rig:
        yield rig


def test_events_for_my_tenant_and_twin(sqlite_rig: ApiRig) -> None:
    rig = sqlite_rig
    token = rig.tokens[("acme", Role.VIEWER)]
    with rig.client.websocket_connect(f"/api/v1/events?access_token={token}&twin=r1") as ws:
        rig.call("PUT", "/api/v1/twins/r0", json=room())  # another twin: filtered out
        rig.call("PUT", "/api/v1/twins/r1", tenant="globex", json=room())  # another tenant: never sent
        rig.call("PUT", "/api/v1/twins/r1", json=room(20.0))
        rig.call("PATCH", "/api/v1/twins/r1", json=[{"op": "replace", "path": "/temperature", "value": 22.0}])
        created = ws.receive_json()
        updated = ws.receive_json()
    assert (created["kind"], created["subject"]) == ("twin.created", "r1")
    assert updated["kind"] == "twin.updated"
    assert updated["data"]["old"]["temperature"] == 20.0 and updated["data"]["new"]["temperature"] == 22.0
    assert updated["context"]["actor"].startswith("token:") and updated["context"]["id"]


def test_subprotocol_auth(sqlite_rig: ApiRig) -> None:
    token = sqlite_rig.tokens[("acme", Role.VIEWER)]
    with sqlite_rig.client.websocket_connect("/api/v1/events", subprotocols=["tvilling", token]) as ws:
        assert ws.accepted_subprotocol == "tvilling"
        sqlite_rig.call("PUT", "/api/v1/twins/x", json=room())
        assert ws.receive_json()["subject"] == "x"


@pytest.mark.parametrize("query,headers,code", [
    ("", {}, 4401),
    ("?access_token=tvl_0000000000000000_" + "0" * 48, {}, 4401),
    ("?access_token={token}", {"Origin": "https://evil.example"}, 4403),
])
def test_refusals(sqlite_rig: ApiRig, query: str, headers: dict[str, str], code: int) -> None:
    token = sqlite_rig.tokens[("acme", Role.VIEWER)]
    with pytest.raises(WebSocketDisconnect) as info, \
            sqlite_rig.client.websocket_connect("/api/v1/events" + query.format(token=token), headers=headers) as ws:
        ws.receive_json()
    assert info.value.code == code



def test_query_filter_by_model_family_and_invalid_filter(sqlite_rig: ApiRig) -> None:
    from tests.support.dtdl_samples import FLOOR, OFFICE, ROOM

    rig = sqlite_rig
    token = rig.tokens[("acme", Role.VIEWER)]
    with rig.client.websocket_connect(f"/api/v1/events?access_token={token}&model={ROOM}&kind=twin.created") as ws:
        rig.call("PUT", "/api/v1/twins/f1", json={"$metadata": {"$model": FLOOR}})  # not a Room
        rig.call("PUT", "/api/v1/twins/o1", json=room(model=OFFICE))  # Office extends Room
        frame = ws.receive_json()
    assert (frame["kind"], frame["subject"]) == ("twin.created", "o1")
    with pytest.raises(WebSocketDisconnect) as info, \
            rig.client.websocket_connect(f"/api/v1/events?access_token={token}&kind=") as ws:
        ws.receive_json()
    assert info.value.code == 4422
