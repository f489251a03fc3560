"""explain_change over MCP: an assistant asks why line 1 slowed down and gets the lowered speed setpoint first, with
its evidence, and the operator's command meanwhile; the parameters reach the server; a wrong one is a one-line tool
error that names it."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api.test_mcp_server import error, tvilling_mcp, value
from tests.support.explain_history import JAM, LOWERED, at, explain_rig
from tests.support.platform import live_server
from tvilling.core.roles import Role


async def test_an_assistant_asks_why_a_signal_changed(tmp_path: Path) -> None:
    with explain_rig(tmp_path / "mcp.db") as rig, live_server(rig.platform.app) as url:
        async with tvilling_mcp(rig, url, Role.VIEWER) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            description = tools["explain_change"].description or ""
            assert description.startswith("Why did a twin's signal change between two times?")
            assert "viewer" in description
            params = tools["explain_change"].input_schema["properties"]
            assert params["direction"]["enum"] == ["down", "up", "any"]

            window = {"twin_id": "line-1", "property": "throughput", "start": at(LOWERED - 20),
                      "end": at(LOWERED + 40)}
            body = value(await client.call_tool("explain_change", {**window, "direction": "down"}))
            assert body["changed"] and body["target"]["since"] == at(LOWERED).replace("+00:00", "Z")
            top = body["contributors"][0]
            assert (top["twin"], top["name"], top["kind"], top["first"]) == ("line-1", "speedSetpoint", "setting",
                                                                             True)
            assert top["timing"] in ("changed with", "changed before") and top["correlation"] > 0.9
            assert [(e["kind"], e["actor"]) for e in body["events"]] == [("command.acked", "token:operator-anna")]

            jam = value(await client.call_tool("explain_change", {
                **window, "start": at(JAM - 20), "end": at(JAM + 20), "hops": 0, "bucket_s": 60, "top": 3,
                "reference_start": at(JAM - 80), "reference_end": at(JAM - 20)}))
            assert (jam["twins"], jam["bucketS"], jam["referenceStart"]) == (1, 60, at(JAM - 80).replace("+00:00",
                                                                                                         "Z"))
            assert len(jam["contributors"]) == 3 and jam["contributors"][0]["name"] == "jammed"
            assert jam["events"] == []

            assert "has no history of 'speed'" in error(await client.call_tool("explain_change", {
                **window, "property": "speed"}))
            assert "bucket" in error(await client.call_tool("explain_change", {**window, "bucket_s": 7}))
            assert "does not exist" in error(await client.call_tool("explain_change", {**window,
                                                                                       "twin_id": "nowhere"}))
