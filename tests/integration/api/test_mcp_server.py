"""`tvilling mcp` end to end: a real MCP client spawns the command over stdio, and that process talks to a live
server through the SDK. The token's role decides what works; platform errors come back as tool errors (one line),
and the session goes on."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.support import dtdl_samples
from tests.support.fmus import thermal_zone_bytes
from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.app.maintenance_planning import MaintenancePlanner, config_from_dict
from tvilling.core.roles import Role
from tvilling.sdk import Client as SdkClient

TOOLS = {"list_twins", "get_twin", "query", "list_alarms", "list_work_orders", "get_work_order", "list_event_routes",
         "create_work_order", "act_on_work_order", "work_order_policy", "list_fmus", "get_fmu", "simulate_fmu",
         "fmu_ensemble", "fmu_residuals", "twin_physics", "get_history", "list_insights", "maintenance_plan",
         "pending_approvals", "kill_switches", "engage_kill_switch"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, str]]:
    with api_rig(f"sqlite:///{tmp_path / 'mcp.db'}") as rig, live_server(rig.platform.app) as url:
        for twin, model in (("office-1", dtdl_samples.OFFICE), ("room-1", dtdl_samples.ROOM)):
            resp = rig.call("PUT", f"/api/v1/twins/{twin}", json=dtdl_samples.room(model=model))
            assert resp.status_code in (200, 201), resp.text
        yield rig, url


def tvilling_mcp(rig: ApiRig, url: str, role: Role) -> Client:
    """An MCP client over stdio to `tvilling mcp` in a subprocess, with an acme token of ``role``."""
    env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", role)]}
    return Client(StdioServerParameters(command=sys.executable, args=["-m", "tvilling.cli.main", "mcp"], env=env),
                  read_timeout_seconds=15)


def value(result: Any) -> Any:
    assert not result.is_error, result.content
    assert len(result.content) == 1
    return json.loads(result.content[0].text)


def error(result: Any) -> str:
    assert result.is_error
    text: str = result.content[0].text
    assert "\n" not in text
    return text


async def test_operator_reads_the_plant_and_handles_a_work_order(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    async with tvilling_mcp(rig, url, Role.OPERATOR) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) >= TOOLS
        assert "operator" in (tools["create_work_order"].description or "")

        twin = value(await client.call_tool("get_twin", {"twin_id": "office-1"}))
        assert twin["$dtId"] == "office-1" and twin["$metadata"]["$model"] == dtdl_samples.OFFICE
        offices = value(await client.call_tool("list_twins", {"model": dtdl_samples.OFFICE}))
        assert [t["$dtId"] for t in offices["value"]] == ["office-1"] and offices["count"] == 1
        rows = value(await client.call_tool("query", {"adt_query": "SELECT * FROM DIGITALTWINS T WHERE "
                                                                   f"IS_OF_MODEL(T, '{dtdl_samples.ROOM}')"}))
        assert sorted(r["$dtId"] for r in rows["value"]) == ["office-1", "room-1"]  # an office is a room

        order = value(await client.call_tool("create_work_order", {"twin_id": "office-1", "title": "Check the fan",
                                                                    "priority": "high"}))
        assert (order["state"], order["twinId"], order["priority"]) == ("open", "office-1", "high")
        listed = value(await client.call_tool("list_work_orders", {"twin": "office-1"}))
        assert [o["id"] for o in listed["value"]] == [order["id"]]
        done = value(await client.call_tool("act_on_work_order", {"order_id": order["id"], "action": "complete",
                                                                   "comment": "fan cleaned"}))
        assert done["state"] == "done"
        assert value(await client.call_tool("get_work_order", {"order_id": order["id"]}))["state"] == "done"
        assert value(await client.call_tool("list_alarms", {}))["count"] == 0
        assert "mode" in value(await client.call_tool("work_order_policy", {}))

        missing = error(await client.call_tool("get_twin", {"twin_id": "no-such-twin"}))
        assert "no-such-twin" in missing
        # The session survives an error.
        assert value(await client.call_tool("get_twin", {"twin_id": "room-1"}))["$dtId"] == "room-1"


def _readings(rig: ApiRig) -> datetime:
    """Six hours of office-1 temperature, one reading every 10 minutes, 20 + hour of the reading (degC)."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=7)
    for i in range(36):
        at = t0 + timedelta(minutes=10 * i)
        r = rig.call("POST", "/api/v1/telemetry", role=Role.OPERATOR, json={"readings": [
            {"twinId": "office-1", "name": "temperature", "sourceTime": at.isoformat().replace("+00:00", "Z"),
             "value": 20.0 + i // 6}]})
        assert r.status_code == 200, r.text
    return t0


async def test_an_assistant_reads_history_and_insights(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    t0 = _readings(rig)
    start, end = (t0.isoformat().replace("+00:00", "Z"), (t0 + timedelta(hours=6)).isoformat().replace("+00:00", "Z"))
    async with tvilling_mcp(rig, url, Role.VIEWER) as client:
        hourly = value(await client.call_tool("get_history", {"twin_id": "office-1", "property": "temperature",
                                                              "start": start, "end": end}))
        assert hourly["count"] == 6 and hourly["bucket"] == 3600
        assert [row["mean"] for row in hourly["value"]] == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
        raw = value(await client.call_tool("get_history", {"twin_id": "office-1", "property": "temperature",
                                                           "start": start, "end": end, "bucket": None}))
        assert raw["count"] == 36
        assert value(await client.call_tool("list_insights", {"twin": "office-1"}))["count"] == 0
        assert "office-9" in error(await client.call_tool("get_history", {"twin_id": "office-9",
                                                                          "property": "temperature"}))


def test_the_sdk_reads_history_as_a_frame(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    t0 = _readings(rig)
    with SdkClient(url, token=rig.tokens[("acme", Role.VIEWER)]) as tv:
        frame = tv.history_frame("office-1", "temperature", start=t0.isoformat(),
                                 end=(t0 + timedelta(hours=6)).isoformat())
        assert len(frame) == 36 and frame.index[0] == t0 and frame["value"].iloc[-1] == 25.0
        hourly = tv.history("office-1", "temperature", start=t0.isoformat(), end=(t0 + timedelta(hours=6)).isoformat(),
                            bucket="1h", agg=["max"])
        assert [row["max"] for row in hourly["items"]] == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
        assert tv.list_insights(twin="office-1")["value"] == []


async def test_an_assistant_runs_a_what_if_on_an_fmu(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    r = rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=thermal_zone_bytes("3.0"),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    fmu_id = r.json()["id"]
    async with tvilling_mcp(rig, url, Role.OPERATOR) as client:
        assert [f["id"] for f in value(await client.call_tool("list_fmus", {}))["value"]] == [fmu_id]
        described = value(await client.call_tool("get_fmu", {"fmu_id": fmu_id}))
        assert "UA" in {v["name"] for v in described["variables"]}
        run = value(await client.call_tool("simulate_fmu", {"fmu_id": fmu_id, "values": {"Q_hvac": -2000,
                                                                                          "T_out": 5}}))
        assert run["steps"] == 1440 and len(run["time"]) <= 51 and run["time"][-1] == 86400.0
        assert run["outputs"]["T"]["unit"] == "degC" and run["outputs"]["T"]["final"] < 2.0
        assert run["series"]["T"][0] == 21.0
        spread = value(await client.call_tool("fmu_ensemble", {
            "fmu_id": fmu_id, "vary": {"UA": {"dist": "uniform", "low": 400, "high": 600}}, "samples": 40,
            "values": {"Q_hvac": -2000, "T_out": 5}, "limits": {"T": {"below": 1}}, "step": 3600}))
        assert spread["samples"] == 40 and 0.3 < spread["exceedance"]["T"] < 0.7 and "bands" not in spread
        refused = error(await client.call_tool("simulate_fmu", {"fmu_id": fmu_id, "values": {"C": 0}}))
        assert "C must be > 0" in refused
    async with tvilling_mcp(rig, url, Role.VIEWER) as client:
        assert "operator" in error(await client.call_tool("simulate_fmu", {"fmu_id": fmu_id}))


async def test_an_assistant_checks_a_twin_against_its_model(served: tuple[ApiRig, str]) -> None:
    # office-1 warms by 1 degC an hour while the model, with no heat in, cools towards 10 degC: after the first two
    # hours (the reference) the residual runs away, and the tool names the output and when.
    rig, url = served
    t0 = _readings(rig)
    r = rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=thermal_zone_bytes("2.0"),
                 headers={"Content-Type": "application/octet-stream"})
    fmu_id = r.json()["id"]
    args = {"fmu_id": fmu_id, "twin_id": "office-1", "start": t0.isoformat().replace("+00:00", "Z"),
            "end": (t0 + timedelta(hours=6)).isoformat().replace("+00:00", "Z"), "bucket": "10m",
            "outputs": {"T": "temperature"}, "values": {"T_start": 20}, "reference_rows": 12}
    async with tvilling_mcp(rig, url, Role.OPERATOR) as client:
        found = value(await client.call_tool("fmu_residuals", args))
        assert found["timeOrigin"] == t0.isoformat().replace("+00:00", "Z") and found["referenceRows"] == 12
        assert found["episodes"] and found["episodes"][0]["outputs"] == ["T"] and found["episodes"][0]["start"] >= 7200
        assert found["stats"]["T"]["biasAfter"] > 1.0 and "residual" not in found
        assert "office-9" in error(await client.call_tool("fmu_residuals", {**args, "twin_id": "office-9"}))
        # office-1's model has no coupled physics model on this server
        assert value(await client.call_tool("twin_physics", {"twin_id": "office-1"}))["coupled"] is False
    async with tvilling_mcp(rig, url, Role.VIEWER) as client:
        assert "operator" in error(await client.call_tool("fmu_residuals", args))


async def test_a_viewer_reads_but_cannot_create(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    async with tvilling_mcp(rig, url, Role.VIEWER) as client:
        denied = error(await client.call_tool("create_work_order", {"twin_id": "office-1", "title": "x"}))
        assert "viewer role cannot" in denied and "operator" in denied
        assert value(await client.call_tool("list_work_orders", {}))["count"] == 0
        assert value(await client.call_tool("get_twin", {"twin_id": "office-1"}))["$dtId"] == "office-1"


async def test_a_viewer_reads_the_event_routes(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    r = rig.call("POST", "/api/v1/event-routes", json={"name": "cmms", "url": "http://127.0.0.1:9/hooks",
                                                       "enabled": False, "filter": {"kinds": ["workorder"]}})
    assert r.status_code == 201, r.text
    async with tvilling_mcp(rig, url, Role.VIEWER) as client:
        routes = value(await client.call_tool("list_event_routes", {}))
    assert routes["count"] == 1
    route = routes["value"][0]
    assert route["name"] == "cmms" and route["state"] == "paused" and "secret" not in route
    assert route["filter"]["kinds"] == ["workorder"] and route["status"]["backlog"] == 0


async def test_an_assistant_asks_when_to_do_maintenance(served: tuple[ApiRig, str]) -> None:
    rig, url = served
    for twin in ("office-7", "office-8"):
        r = rig.call("PUT", f"/api/v1/twins/{twin}", json=dtdl_samples.room(model=dtdl_samples.OFFICE))
        assert r.status_code in (200, 201), r.text
    state = rig.platform.app.state
    before = state.planner
    async with tvilling_mcp(rig, url, Role.VIEWER) as client:
        answer = value(await client.call_tool("maintenance_plan", {}))
        assert answer["configured"] is False and "planning.yaml" in answer["hint"]
        state.planner = MaintenancePlanner(rig.platform.services, config_from_dict({
            "horizon_days": 14, "calendar": {"downtime_cost_per_hour": {"default": 1000, "sunday": 0}},
            "tasks": [{"id": "service", "model": "dtmi:test:Office;1", "title": "Service {twin}", "line": "L",
                       "duration_hours": 3, "preventive_cost": 100, "failure_cost": 5000,
                       "failure": {"rul_hours": {"lower": 100, "upper": 300}}}]}))
        try:
            answer = value(await client.call_tool("maintenance_plan", {"alternatives": 1}))
        finally:
            state.planner = before
    tasks = answer["plan"]["tasks"]
    assert {"Service office-7", "Service office-8"} <= {t["title"] for t in tasks}
    assert all(len(t["windows"]) <= 1 and t["date"] for t in tasks) and "crew" not in answer["plan"]
