"""Guarded commands over MCP: an assistant reads what waits for approval and the kill switches, and may pull the
kill switch (stopping is the safe direction), but has no tool to approve a command or release a switch."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api.test_access_matrix import _pending
from tests.integration.api.test_mcp_server import error, tvilling_mcp, value
from tests.support.platform import api_rig, live_server
from tvilling.core.roles import Role


async def test_an_assistant_sees_approvals_and_may_only_stop(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'mcp.db'}", seed_models=False) as rig, \
            live_server(rig.platform.app) as url:
        cmd = _pending(rig, "m")
        async with tvilling_mcp(rig, url, Role.ADMIN) as client:  # whatever the role: no approve, no release
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"pending_approvals", "kill_switches", "engage_kill_switch"} <= names
            assert not {n for n in names if "approve" in n or "release" in n or "reject" in n}
        async with tvilling_mcp(rig, url, Role.VIEWER) as client:
            waiting = value(await client.call_tool("pending_approvals", {}))
            assert [c["commandId"] for c in waiting["value"]] == [cmd["commandId"]] and waiting["count"] == 1
            assert waiting["value"][0]["approvalsRequired"] == 1
            assert value(await client.call_tool("kill_switches", {}))["count"] == 0
            assert "operator" in error(await client.call_tool("engage_kill_switch", {"reason": "looks wrong"}))
        async with tvilling_mcp(rig, url, Role.OPERATOR) as client:
            switch = value(await client.call_tool("engage_kill_switch", {"reason": "pressure rising",
                                                                         "twin_id": "dev-m"}))
            assert (switch["scope"], switch["reason"], switch["canceled"]) == ("dev-m", "pressure rising", 1)
            assert [k["scope"] for k in value(await client.call_tool("kill_switches", {}))["value"]] == ["dev-m"]
            assert value(await client.call_tool("pending_approvals", {}))["count"] == 0  # canceled
            assert "dev-9" in error(await client.call_tool("engage_kill_switch", {"reason": "x", "twin_id": "dev-9"}))
        assert rig.call("GET", f"/api/v1/commands/{cmd['commandId']}").json()["state"] == "canceled"
