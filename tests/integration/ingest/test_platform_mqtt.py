"""The server's ingestion service with an MQTT source (settings -> bootstrap -> run_ingest): a device message
becomes history and twin state readable over HTTP, and a twin.telemetry event."""

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
