"""A setpoint loop acting on the virtual plant's hall over a real Mosquitto: the platform's loop (from a
setpoints.yaml, run by the server's background task) decides on a committed reading, sends the setpoints through
the guarded command service as ``loop:hall-comfort``, and the plant applies them; a kill switch then suspends the
loop's autonomy, audited.

The hall's history is the plant's own physics simulated in-process for the five days before the run (the plant's
hall speaks Sparkplug in the demo, which this rig does not carry), written to the store as the ingest path would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.commands.rig import TENANT, CommandRig, command_rig, write_mappings
from tests.support.hall_history import hall_rows
from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tvilling.adapters.sql.timeseries import TimeSeriesStore
from tvilling.core.context import Context
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.virtual_plant import Plant, PlantConfig

pytestmark = pytest.mark.mosquitto

ROWS: list[dict[str, Any]] = [
    {"twin": "hall", "command": "set_heating_setpoint_c", "transport": "mqtt", "topic": "plant/hall/commands",
     "min": 10, "max": 26, "guard": {"property": "heatingSetpoint", "max_step": 2}},
    {"twin": "hall", "command": "set_cooling_setpoint_c", "transport": "mqtt", "topic": "plant/hall/commands",
     "min": 18, "max": 32, "guard": {"property": "coolingSetpoint", "max_step": 2}},
]
LOOP = {"name": "hall-comfort", "twin": "hall", "mode": "auto", "band": {"low": 21, "high": 23},
        "limits": {"heating": [16, 24], "cooling": [20, 28]},
        "max_energy_error": 0.5}  # the confidence gate is not under test; the history depends on the wall clock


def _history(rig: CommandRig, end: datetime, days: float = 5.0) -> None:
    """The hall's last days from the plant's physics at its default setpoints, as quarter-hour readings. The weather
    is May's (the hall then both heats and cools, so both modes have something to learn from), on the same weekday
    and time of day as the real start of the history."""
    t_start = end - timedelta(days=days)
    may = datetime(2026, 5, 4, tzinfo=UTC) + timedelta(days=t_start.weekday())  # 2026-05-04 is a Monday
    plant = Plant(PlantConfig(seed=7, faults=[], start=may.replace(hour=t_start.hour, minute=t_start.minute,
                                                                   second=t_start.second)))
    rows = hall_rows(TENANT, plant, (end - timedelta(days=days)).timestamp(), days)
    TimeSeriesStore(rig.platform.store.engine).write_batch(rows, [], [], 0)


@pytest.fixture
def rig(mosquitto_broker: int, tmp_path: Path) -> Iterator[CommandRig]:  # noqa: F811
    loops = tmp_path / "setpoints.yaml"
    loops.write_text(yaml.safe_dump({"version": 1, "tenant": TENANT, "loops": [LOOP]}), encoding="utf-8")
    with command_rig(tmp_path, f"mqtt://127.0.0.1:{mosquitto_broker}", write_mappings(tmp_path / "c.yaml", ROWS),
                     setpoints_file=loops) as r:
        yield r


def _decide(rig: CommandRig, at: datetime, n: int) -> dict[str, Any]:
    """A committed hall reading at ``at`` starts a decision (the server's own loop task); wait for the n-th."""
    stamp = at.isoformat().replace("+00:00", "Z")
    rig.platform.services.bus.publish([Event(
        kind="twin.telemetry", tenant=TENANT, subject="hall", time=at, context_id="test", actor="ingest",
        data={"changes": {"airTemperature": {"new": 20.0, "quality": "good", "source_time": stamp}}})])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = rig.client.get("/api/v1/setpoint-loops/hall-comfort/proposals", headers=rig.viewer).json()["value"]
        if len(items) >= n and items[0]["decision"] not in ("",):
            return dict(items[0])
        time.sleep(0.1)
    raise AssertionError("no decision")


def test_the_loop_moves_the_plants_setpoints_and_a_kill_switch_suspends_it(rig: CommandRig) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    _history(rig, now)
    rig.platform.services.twins.patch(TENANT, "hall", [
        {"op": "add", "path": "/heatingSetpoint", "value": rig.plant.hall.heating_setpoint_c},
        {"op": "add", "path": "/coolingSetpoint", "value": rig.plant.hall.cooling_setpoint_c}], Context.new("test"))
    engineer = {"Authorization": "Bearer " + rig.platform.services.tokens.create(TENANT, Role.ENGINEER, "eng").token}
    # After the server's start autonomy is off: a decision only recommends.
    first = _decide(rig, now - timedelta(minutes=30), 1)
    assert first["decision"] == "recommended" and "autonomy is off" in first["reasons"][-1], first
    r = rig.client.post("/api/v1/setpoint-loops/hall-comfort/enable", headers=rig.headers)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"  # operators cannot
    assert rig.client.post("/api/v1/setpoint-loops/hall-comfort/enable", headers=engineer).status_code == 200

    body = _decide(rig, now - timedelta(minutes=15), 2)
    assert body["decision"] == "sent", (body["reasons"], body["confidence"])
    assert all(c["state"] in ("acked", "requested", "sent") for c in body["commands"]), body
    want = (body["proposed"]["heatingSetpoint"], body["proposed"]["coolingSetpoint"])
    assert want != (19.0, 24.0)
    for c in body["commands"]:  # each reached the plant over Mosquitto and was acknowledged
        rig.wait_state(c["id"], {"acked"})
    assert (rig.plant.hall.heating_setpoint_c, rig.plant.hall.cooling_setpoint_c) == want
    history = rig.client.get(f"/api/v1/commands/{body['commands'][0]['id']}", headers=rig.viewer).json()
    assert history["state"] == "acked"

    # The kill switch on the hall: the next move is refused and autonomy suspends itself, audited.
    rig.platform.services.twins.patch(TENANT, "hall", [
        {"op": "replace", "path": "/heatingSetpoint", "value": 16.0},
        {"op": "replace", "path": "/coolingSetpoint", "value": 28.0}], Context.new("test"))
    assert rig.client.post("/api/v1/killswitch", headers=rig.headers,
                           json={"scope": "hall", "reason": "HVAC service"}).status_code == 200
    refused = _decide(rig, now, 3)
    assert refused["decision"] == "refused" and "kill switch" in refused["commands"][0]["reason"], refused
    loop = rig.client.get("/api/v1/setpoint-loops/hall-comfort", headers=rig.viewer).json()
    assert loop["autonomy"]["enabled"] is False and "refused" in loop["autonomy"]["suspendedReason"]
    audit = rig.client.get("/api/v1/audit", headers=engineer, params={"category": "setpoint"}).json()["value"]
    assert [a["action"] for a in audit][:2] == ["setpoint.suspended", "setpoint.enabled"]
    assert (rig.plant.hall.heating_setpoint_c, rig.plant.hall.cooling_setpoint_c) == want  # nothing else reached it
