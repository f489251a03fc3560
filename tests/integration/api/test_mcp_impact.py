"""failure_impact and failure_risks over MCP: an assistant asks what stops if pump 1's bearing fails (pump 1 and
line 1 at once, the filler 20 minutes later, 2 400/h) and which likely failures would cost most; an unknown twin is
a one-line tool error; with a second pump feeding the filler (``need: 1``), ``also`` asks what both pumps stopping
does."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api.test_mcp_server import error, tvilling_mcp, value
from tests.support.impact_rig import impact_rig
from tests.support.platform import live_server
from tvilling.core.roles import Role


async def test_an_assistant_asks_what_a_failure_would_cost(tmp_path: Path) -> None:
    with impact_rig(tmp_path) as rig, live_server(rig.platform.app) as url:
        async with tvilling_mcp(rig, url, Role.VIEWER) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert (tools["failure_impact"].description or "").startswith("What stops if this twin fails")
            assert "viewer" in (tools["failure_risks"].description or "")
            assert list(tools["failure_impact"].input_schema["properties"]) == ["twin_id", "also"]

            body = value(await client.call_tool("failure_impact", {"twin_id": "pump-1-bearing"}))
            assert (body["costPerHour"], body["repairHours"]) == (2400.0, 36.0)
            assert [(a["twinId"], a["effect"], a["afterMin"]) for a in body["affected"]] == [
                ("pump-1", "stops", 0.0), ("filler-1", "stops", 20.0), ("line-1", "stops", 20.0)]
            assert body["affected"][1]["path"] == ["pump-1 hasPart pump-1-bearing", "pump-1 feeds filler-1"]

            risks = value(await client.call_tool("failure_risks", {}))
            assert risks["count"] == 4
            assert [r["twinId"] for r in risks["value"]] == ["pump-1-bearing", "chiller-1", "filler-1-bearing",
                                                             "hall"]
            assert risks["value"][0]["expectedCost"] == 17280.0
            one = value(await client.call_tool("failure_risks", {"limit": 1}))
            assert (one["count"], [r["twinId"] for r in one["value"]]) == (4, ["pump-1-bearing"])
            assert len(value(await client.call_tool("failure_risks", {"limit": 0}))["value"]) == 1  # at least one

            assert "twin nowhere does not exist" in error(await client.call_tool("failure_impact",
                                                                                 {"twin_id": "nowhere"}))


async def test_an_assistant_asks_what_two_redundant_pumps_stopping_together_would_do(tmp_path: Path) -> None:
    with impact_rig(tmp_path, estimates=False, need=1) as rig, live_server(rig.platform.app) as url:
        async with tvilling_mcp(rig, url, Role.VIEWER) as client:
            assert value(await client.call_tool("failure_impact", {"twin_id": "pump-1"}))["affected"] == []
            body = value(await client.call_tool("failure_impact", {"twin_id": "pump-1", "also": ["pump-2"]}))
            assert [(a["twinId"], a["afterMin"]) for a in body["affected"]] == [("filler-1", 20.0), ("line-1", 20.0)]
            assert (body["also"], body["affected"][0]["with"], body["costPerHour"]) == (["pump-2"], ["pump-1"], 2400.0)
            assert "twin nowhere does not exist" in error(await client.call_tool(
                "failure_impact", {"twin_id": "pump-1", "also": ["nowhere"]}))
