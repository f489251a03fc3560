"""Setpoint loops over MCP: an assistant reads the loops with their last proposals and may stop a loop's autonomy
(stopping is the safe direction), but has no tool to enable it, whatever the token's role."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api.test_access_matrix import _proposal, _setpoints
from tests.integration.api.test_mcp_server import error, tvilling_mcp, value
from tests.support.platform import api_rig, live_server
from tvilling.core.roles import Role


async def test_an_assistant_reads_loops_and_may_only_stop_them(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'mcp.db'}", seed_models=False) as rig, \
            live_server(rig.platform.app) as url:
        _setpoints(rig)
        ids = [_proposal(rig, "hall", f"2024-05-01T12:0{i}:00Z", savingKwh=0.5 * i, model={"samples": 96})["id"]
               for i in range(5)]
        assert rig.call("POST", "/api/v1/setpoint-loops/hall/enable").status_code == 200
        async with tvilling_mcp(rig, url, Role.ADMIN) as client:  # whatever the role: no enable
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"setpoint_loops", "disable_setpoint_loop"} <= names
            assert not {n for n in names if "setpoint" in n and "enable" in n.replace("disable", "")}
        async with tvilling_mcp(rig, url, Role.VIEWER) as client:
            loops = value(await client.call_tool("setpoint_loops", {}))
            assert loops["count"] == 2 and [lp["name"] for lp in loops["value"]] == ["hall", "office"]
            hall, office = loops["value"]
            assert hall["autonomy"]["enabled"] is True and "last" not in hall
            assert [p["id"] for p in hall["proposals"]] == ids[:1:-1]  # the last three, newest first
            assert hall["proposals"][0]["savingKwh"] == 2.0 and "model" not in hall["proposals"][0]
            assert office["proposals"] == [] and office["autonomy"] is None
            one = value(await client.call_tool("setpoint_loops", {"proposals": 1}))
            assert [p["id"] for p in one["value"][0]["proposals"]] == [ids[-1]]
            assert "operator" in error(await client.call_tool("disable_setpoint_loop", {"name": "hall",
                                                                                        "reason": "looks wrong"}))
        async with tvilling_mcp(rig, url, Role.OPERATOR) as client:
            stopped = value(await client.call_tool("disable_setpoint_loop", {"name": "hall",
                                                                             "reason": "air drifting low"}))
            assert stopped["name"] == "hall" and stopped["autonomy"]["enabled"] is False
            assert stopped["autonomy"]["suspendedReason"].endswith(": air drifting low")
            assert "'nope' does not exist" in error(await client.call_tool("disable_setpoint_loop",
                                                                           {"name": "nope", "reason": "x"}))
        assert rig.call("GET", "/api/v1/setpoint-loops/hall").json()["autonomy"]["enabled"] is False
        audit = rig.call("GET", "/api/v1/audit", params={"category": "setpoint"}).json()["value"]
        assert [r["action"] for r in audit] == ["setpoint.disabled", "setpoint.enabled"]
        assert audit[0]["detail"]["reason"].endswith(": air drifting low")
