"""The SDK's setpoint-loop operations, sync against a live server and async over ASGI: the loops, their proposals in
pages, enabling (engineer; a conflict for a recommend loop) and disabling (operator) autonomy, typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.api.test_access_matrix import _proposal, _setpoints
from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tvilling.core.roles import Role
from tvilling.sdk import AsyncClient, Client


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with api_rig(f"sqlite:///{tmp_path / 'sdk.db'}", seed_models=False) as r:
        _setpoints(r)
        yield r


def test_sync_setpoint_operations(rig: ApiRig) -> None:
    ids = [_proposal(rig, "hall", f"2024-05-01T12:0{i}:00Z")["id"] for i in range(3)]
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("acme", Role.ENGINEER)]) as eng, \
            Client(url, rig.tokens[("acme", Role.OPERATOR)]) as op:
        loops = op.setpoint_loops()["value"]
        assert [(lp["name"], lp["mode"]) for lp in loops] == [("hall", "auto"), ("office", "recommend")]
        assert loops[0]["last"]["id"] == ids[-1] and loops[1]["last"] is None
        assert op.setpoint_loop("office")["autonomy"] is None
        page = op.setpoint_proposals("hall", limit=2)
        assert [b["id"] for b in page["value"]] == ids[:0:-1] and page["nextBefore"]
        rest = op.setpoint_proposals("hall", limit=2, before=page["nextBefore"])
        assert [b["id"] for b in rest["value"]] == ids[:1] and rest["nextBefore"] is None
        with pytest.raises(ValidationError) as bad:
            op.setpoint_proposals("hall", before="yesterday")
        assert bad.value.where == "before"

        with pytest.raises(PermissionDeniedError):
            op.enable_setpoint_loop("hall")
        assert eng.enable_setpoint_loop("hall")["autonomy"]["enabled"] is True
        with pytest.raises(ConflictError) as conflict:
            eng.enable_setpoint_loop("office")
        assert conflict.value.where == "office" and "mode: auto" in conflict.value.hint
        off = op.disable_setpoint_loop("hall", reason="drill")["autonomy"]
        assert off["enabled"] is False and off["suspendedReason"].endswith(": drill")
        assert op.disable_setpoint_loop("hall")["autonomy"]["suspendedReason"].startswith("disabled by token:")
        with pytest.raises(NotFoundError):
            op.setpoint_loop("nope")
        actions = [r["action"] for r in eng.audit(category="setpoint")["value"]]
        assert actions == ["setpoint.disabled", "setpoint.disabled", "setpoint.enabled"]


async def test_async_setpoint_operations(rig: ApiRig) -> None:
    transport = httpx.ASGITransport(app=rig.platform.app)
    async with AsyncClient("http://test", rig.tokens[("acme", Role.ENGINEER)], transport=transport) as tv:
        assert [lp["name"] for lp in (await tv.setpoint_loops())["value"]] == ["hall", "office"]
        assert (await tv.setpoint_proposals("office")) == {"value": [], "nextBefore": None}
        assert (await tv.enable_setpoint_loop("hall"))["autonomy"]["enabled"] is True
        assert (await tv.setpoint_loop("hall"))["autonomy"]["enabled"] is True
        assert (await tv.disable_setpoint_loop("hall", "over"))["autonomy"]["enabled"] is False
        with pytest.raises(NotFoundError):
            await tv.disable_setpoint_loop("nope")
