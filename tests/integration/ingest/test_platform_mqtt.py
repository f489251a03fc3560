"""The server's ingestion service with an MQTT source (settings -> bootstrap -> run_ingest): a device message
becomes history and twin state readable over HTTP, and a twin.telemetry event; a payload claiming another device
is refused and counted in the security audit trail."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
import yaml

from tests.support import dtdl_samples
from tests.support.mosquitto import start_mosquitto, stop_mosquitto
from tests.support.platform import api_rig
from tests.support.security import denials, security_records

pytestmark = pytest.mark.mosquitto


def test_server_ingests_from_mqtt_when_configured(tmp_path: Path) -> None:
    port, broker = start_mosquitto(tmp_path)
    mfile = tmp_path / "mappings.yaml"
    mfile.write_text(yaml.safe_dump({"tenant": "acme", "mappings": [
        {"topic": "plant/room1/telemetry", "pointer": "/points/temp", "twin": "room1", "property": "temperature",
         "unit": "degC"}]}))
    try:
        with api_rig(f"sqlite:///{tmp_path / 'p.db'}", mappings_file=mfile, mqtt_url=f"mqtt://127.0.0.1:{port}",
                     mqtt_client_id="platform-test") as rig:
            assert rig.call("PUT", "/api/v1/twins/room1", json=dtdl_samples.room()).status_code in (200, 201)
            ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            body = {"device_id": "room1", "seq": 1, "source_ts": ts, "points": {"temp": 71.6},
                    "units": {"temp": "FAH"}}
            deadline = time.monotonic() + 20
            twin: dict[str, object] = {}
            while time.monotonic() < deadline:  # the subscription may not be up yet: republish (idempotent)
                publish.single("plant/room1/telemetry", json.dumps(body), qos=1, hostname="127.0.0.1", port=port)
                twin = rig.call("GET", "/api/v1/twins/room1").json()
                if twin["$metadata"].get("temperature", {}).get("sourceTime"):  # type: ignore[attr-defined]
                    break
                time.sleep(0.2)
            assert twin["temperature"] == pytest.approx(22.0)  # 71.6 °F converted, in the mapping's tenant
            hist = rig.call("GET", "/api/v1/twins/room1/history/temperature").json()
            assert len(hist["items"]) == 1 and hist["items"][0]["original"] == {"value": 71.6, "unit": "FAH"}
    finally:
        stop_mosquitto(broker)


def test_payloads_claiming_another_device_are_counted_as_security_events(tmp_path: Path) -> None:
    """S-05's "device_id ≠ the topic identity" in the audit trail (S-15): every refused payload counted exactly, in
    the mapping's tenant; a flood is a few records (per second), the claimed ids kept as samples."""
    port, broker = start_mosquitto(tmp_path)
    mfile = tmp_path / "mappings.yaml"
    mfile.write_text(yaml.safe_dump({"tenant": "acme", "topics": [
        {"topic": "plant/room1/telemetry", "device": "room1",
         "points": [{"pointer": "/points/temp", "twin": "room1", "name": "temperature", "unit": "degC"}]}]}))

    def body(device: str, seq: int) -> str:
        ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return json.dumps({"device_id": device, "seq": seq, "source_ts": ts, "points": {"temp": 21.0 + seq % 3},
                           "units": {"temp": "degC"}})

    try:
        with api_rig(f"sqlite:///{tmp_path / 'p.db'}", mappings_file=mfile, mqtt_url=f"mqtt://127.0.0.1:{port}",
                     mqtt_client_id="platform-identity") as rig:
            assert rig.call("PUT", "/api/v1/twins/room1", json=dtdl_samples.room()).status_code in (200, 201)
            deadline = time.monotonic() + 20
            while not rig.call("GET", "/api/v1/twins/room1").json()["$metadata"]["temperature"].get("sourceTime"):
                assert time.monotonic() < deadline, "the platform never subscribed"
                publish.single("plant/room1/telemetry", body("room1", 0), qos=1, hostname="127.0.0.1", port=port)
                time.sleep(0.2)
            # a flood on room1's topic claiming two other devices, between room1's own messages
            claims = [("room2", "room3", "room1")[i % 3] for i in range(1, 451)]
            publish.multiple([{"topic": "plant/room1/telemetry", "qos": 1, "payload": body(device, i)}
                              for i, device in enumerate(claims, start=1)], hostname="127.0.0.1", port=port)
            refused = sum(1 for device in claims if device != "room1")
            deadline = time.monotonic() + 20
            while denials(security_records(rig.platform, "acme")) < refused and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # anything counted twice would show now
            records = security_records(rig.platform, "acme")
    finally:
        stop_mosquitto(broker)
    assert denials(records, "mqtt.identity_refused") == refused == denials(records)
    assert len(records) <= 20  # per second and group, not per message
    record = records[0]
    assert record["actor"] == "anonymous" and record["subject"] == "plant/room1/telemetry"
    assert record["detail"]["status"] == 403 and "'room1', the topic's device" in record["detail"]["reason"]
    assert {d for r in records for d in r["detail"]["claimedDeviceIds"]} == {"room2", "room3"}
