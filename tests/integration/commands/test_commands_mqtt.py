"""Command -> device -> acknowledgement over a real Mosquitto (MQTT 5: response topic + correlation data) and over
the embedded amqtt broker (MQTT 3.1.1: the plain ack topic), with the virtual plant as the device."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.commands.rig import CommandRig, command_rig, write_mappings
from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tests.support.services import free_port

pytestmark = pytest.mark.mosquitto

ROWS: list[dict[str, Any]] = [
    {"twin": "line-1", "command": "set_speed_bpm", "transport": "mqtt", "topic": "plant/line-1/commands"},
    {"twin": "pump-1", "command": "stop", "transport": "mqtt", "topic": "plant/pump-1/commands"},
    # The plant refuses a chilled-water setpoint outside 1-15 degC; the mapping has no limits, so it gets there.
    {"twin": "chiller-1", "command": "set_setpoint_c", "transport": "mqtt", "topic": "plant/chiller-1/commands"},
    # Nobody listens here: the broker takes it (sent), the device never answers (expired).
    {"twin": "hall", "command": "start", "transport": "mqtt", "topic": "silent/hall/commands", "timeout_s": 1},
    # Scaling: the API takes a fraction of rated speed, the device wants percent.
    {"twin": "pump-1", "command": "set_speed_pct", "transport": "mqtt", "topic": "plant/pump-1/commands",
     "scale": 100, "min": 0, "max": 1.1},
]


def _states(doc: dict[str, Any]) -> list[str]:
    return [h["state"] for h in doc["history"]]


@pytest.fixture
def rig(mosquitto_broker: int, tmp_path: Path) -> Iterator[CommandRig]:  # noqa: F811
    with command_rig(tmp_path, f"mqtt://127.0.0.1:{mosquitto_broker}", write_mappings(tmp_path / "c.yaml", ROWS)) \
            as r:
        yield r


def test_command_reaches_the_plant_and_is_acked(rig: CommandRig) -> None:
    before = rig.plant.line.speed_command_bpm
    r = rig.send("line-1", "set_speed_bpm", 321.0, commandId="speed-1")
    assert r.status_code == 202, r.text
    assert r.headers["location"] == "/api/v1/commands/speed-1" and r.json()["state"] == "requested"
    doc = rig.wait_state("speed-1", {"acked", "failed", "expired"})
    assert doc["state"] == "acked", doc
    assert _states(doc) == ["requested", "sent", "acked"]
    assert doc["history"][-1]["detail"]["value"] == 321.0 and "applied_at" in doc["history"][-1]["detail"]
    assert before != 321.0 and rig.plant.line.speed_command_bpm == 321.0  # the physics changed
    # Events: one per transition, about the twin, with the caller as actor and one shared context.
    events = rig.events("speed-1")
    assert [e.kind for e in events] == ["command.requested", "command.sent", "command.acked"]
    assert {e.subject for e in events} == {"line-1"} and len({e.context_id for e in events}) == 1
    assert all(e.actor.startswith("token:") for e in events)
    # Idempotent on the client's id: the same request is replayed, a different one is a conflict.
    again = rig.send("line-1", "set_speed_bpm", 321.0, commandId="speed-1")
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["state"] == "acked" and rig.stats.commands_applied == 1
    clash = rig.send("line-1", "set_speed_bpm", 100.0, commandId="speed-1")
    assert clash.status_code == 409, clash.text
    listed = rig.client.get("/api/v1/twins/line-1/commands", headers=rig.viewer).json()
    assert [c["commandId"] for c in listed["value"]] == ["speed-1"]


def test_no_payload_command_and_a_refusal(rig: CommandRig) -> None:
    r = rig.send("pump-1", "stop")
    assert r.status_code == 202, r.text
    assert rig.wait_state(r.json()["commandId"], {"acked", "failed"})["state"] == "acked"
    assert rig.plant.pump_train.motor.running is False
    scaled = rig.send("pump-1", "set_speed_pct", 0.5)
    assert rig.wait_state(scaled.json()["commandId"], {"acked", "failed"})["state"] == "acked"
    motor = rig.plant.pump_train.motor
    assert motor.frequency_hz == pytest.approx(motor.params.rated_hz * 0.5)
    assert rig.send("pump-1", "set_speed_pct", 2.0).status_code == 422  # above the mapping's max
    bad = rig.send("chiller-1", "set_setpoint_c", 40.0)
    assert bad.status_code == 202
    doc = rig.wait_state(bad.json()["commandId"], {"acked", "failed", "expired"})
    assert doc["state"] == "failed" and "outside" in doc["reason"], doc
    assert rig.plant.chiller.setpoint_c != 40.0


def test_silent_device_expires_and_a_late_answer_does_not_revive(rig: CommandRig, mosquitto_broker: int) -> None:  # noqa: F811
    r = rig.send("hall", "start", commandId="quiet-1")
    assert r.status_code == 202
    doc = rig.wait_state("quiet-1", {"acked", "failed", "expired"}, timeout_s=8)
    assert doc["state"] == "expired" and _states(doc) == ["requested", "sent", "expired"]
    late = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late-device")
    late.connect("127.0.0.1", mosquitto_broker)
    late.loop_start()
    late.publish("silent/hall/commands/ack", json.dumps({"command_id": "quiet-1", "status": "applied"}),
                 qos=1).wait_for_publish(5)
    late.loop_stop()
    late.disconnect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        doc = rig.client.get("/api/v1/commands/quiet-1", headers=rig.viewer).json()
        if len(doc["history"]) == 4:
            break
        time.sleep(0.05)
    assert doc["state"] == "expired" and doc["history"][-1] == {**doc["history"][-1], "state": "acked", "late": True}
    assert [e.kind for e in rig.events("quiet-1")][-1] == "command.late"


def test_api_refusals_are_problem_json(rig: CommandRig) -> None:
    cases = [
        (("line-1", "no_such_command", None), 404),
        (("ghost-twin", "start", None), 404),
        (("line-1", "set_speed_bpm", "fast"), 422),  # request schema is double
        (("line-1", "set_speed_bpm", None), 422),  # a request payload is required
        (("pump-1", "start", None), 409),  # declared by the model, not mapped
    ]
    for (twin, name, payload), status in cases:
        r = rig.send(twin, name, payload)
        assert r.status_code == status, (twin, name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert rig.client.get("/api/v1/commands/nope", headers=rig.viewer).status_code == 404
    viewer_send = rig.client.post("/api/v1/twins/pump-1/commands/stop", headers=rig.viewer)
    assert viewer_send.status_code == 403


@pytest.fixture
def embedded_broker() -> Iterator[str]:
    """The demo's embedded amqtt broker (MQTT 3.1.1 only), on its own event loop thread."""
    from tvilling.adapters.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker(port=free_port())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(15)
    try:
        yield broker.url
    finally:
        try:
            asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)


def test_mqtt311_fallback_acks_on_the_ack_topic(embedded_broker: str, tmp_path: Path) -> None:
    rows = ROWS[:1]
    with command_rig(tmp_path, embedded_broker, write_mappings(tmp_path / "c.yaml", rows), protocol=4) as rig:
        r = rig.send("line-1", "set_speed_bpm", 250.0)
        assert r.status_code == 202, r.text
        doc = rig.wait_state(r.json()["commandId"], {"acked", "failed", "expired"})
        assert doc["state"] == "acked", doc
        assert rig.plant.line.speed_command_bpm == 250.0
