"""The plant as its own process against a real Mosquitto: telemetry arrives with sane values, a command is
applied (and visible in the physics), acknowledged, and deduplicated; the ground truth is written at the end."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.mosquitto


def _wait(q: queue.Queue[tuple[str, dict[str, Any]]], pred: Any, timeout_s: float,
          seen: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(item)
        if pred(*item):
            return item
    raise AssertionError(f"no matching message within {timeout_s} s; got {len(seen)} messages")


def test_plant_process_publishes_and_obeys_commands(mosquitto_broker: int, tmp_path: Path) -> None:  # noqa: F811
    port = mosquitto_broker
    truth = tmp_path / "truth.json"
    q: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-sub",
                      protocol=mqtt.MQTTv5)

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            q.put((msg.topic, json.loads(msg.payload)))
        except ValueError:
            q.put((msg.topic, {"raw": msg.payload.decode(errors="replace")}))

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe([("plant/+/telemetry", 0), ("plant/+/commands/ack", 1), ("test/responses", 1)])
    sub.loop_start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tvilling.virtual_plant", "--speed", "1800", "--duration", "60", "--seed", "5",
         "--broker", f"mqtt://127.0.0.1:{port}", "--truth-out", str(truth)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[tuple[str, dict[str, Any]]] = []
    try:
        _, msg = _wait(q, lambda t, m: t == "plant/pump-1/telemetry" and "flow" in m["points"]
                       and m["points"]["flow"] is not None and "motor_power" in m["points"], 6.0, seen)
        assert msg["device_id"] == "pump-1" and msg["seq"] >= 1 and msg["source_ts"].endswith("Z")
        assert msg["units"]["flow"] == "m^3/h"
        # 500 bottles/min of 0.33 L draw ~10 m³/h; the level loop holds the pump near that, at a few kW.
        assert 3.0 < msg["points"]["flow"] < 21.0
        power_before = msg["points"]["motor_power"]
        assert 0.8 < power_before < 5.0

        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "test/responses"
        props.CorrelationData = b"corr-1"
        cmd = json.dumps({"command_id": "c-1", "command": "set_speed_pct", "value": 60})
        sub.publish("plant/pump-1/commands", cmd, qos=1, properties=props)
        _, ack = _wait(q, lambda t, m: t == "plant/pump-1/commands/ack" and m.get("command_id") == "c-1", 5.0,
                       seen)
        assert ack["status"] == "applied" and ack["duplicate"] is False and ack["applied_at"].endswith("Z")
        _wait(q, lambda t, m: t == "test/responses" and m.get("command_id") == "c-1", 5.0, seen)

        # The physics follows: at 60 % speed, power falls roughly with the cube (affinity laws).
        _, after = _wait(q, lambda t, m: t == "plant/pump-1/telemetry" and m["source_ts"] > ack["applied_at"]
                         and m["points"].get("motor_power") is not None, 5.0, seen)
        assert after["points"]["motor_power"] < 0.6 * power_before

        sub.publish("plant/pump-1/commands", cmd, qos=1)  # a redelivery: must not be applied twice
        _, dup = _wait(q, lambda t, m: t == "plant/pump-1/commands/ack" and m.get("duplicate") is True, 5.0, seen)
        assert dup["command_id"] == "c-1" and dup["status"] == "applied"

        sub.publish("plant/pump-1/commands", json.dumps({"command_id": "c-2", "command": "set_speed_pct",
                                                        "value": 999}), qos=1)
        _, bad = _wait(q, lambda t, m: t == "plant/pump-1/commands/ack" and m.get("command_id") == "c-2", 5.0,
                       seen)
        assert bad["status"] == "rejected" and "outside" in bad["reason"]

        proc.send_signal(signal.SIGTERM)  # stop early: the plant must still write its truth and summary
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sub.loop_stop()
        sub.disconnect()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert summary["commands_applied"] == 1 and summary["commands_rejected"] == 1
    assert summary["commands_duplicate"] == 1
    devices = {t.split("/")[1] for t, _ in seen if t.endswith("/telemetry")}
    assert devices == {"pump-1", "filler-1", "conveyor-1", "line-1", "chiller-1", "hall"}
    data = json.loads(truth.read_text())
    assert 0.0 < data["sim_days"] == pytest.approx(summary["sim_days"])
    assert {f["kind"] for f in data["faults_injected"]} <= {"bearing_wear", "valve_sticking", "sensor_drift",
                                                            "chiller_fouling", "cavitation"}
