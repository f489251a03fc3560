"""Sparkplug B against a real Mosquitto: a test edge node (paho + the codec, per Sparkplug 3.0) publishes
NBIRTH/DBIRTH/DDATA/DDEATH/NDEATH; the platform maps or provisions twins with the metric names and units, stores
history, marks points stale on death certificates, and answers a seq gap with an NCMD Node Control/Rebirth."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import dtdl_samples
from tests.support.mosquitto import start_mosquitto, stop_mosquitto
from tests.support.platform import ApiRig, api_rig
from tvilling.adapters.sql import schema
from tvilling.app.ingest_sparkplug import DEATH_REASON, DEVICE_MODEL
from tvilling.protocols.sparkplug import (
    BD_SEQ,
    REBIRTH,
    DataType,
    MessageType,
    Metric,
    Payload,
    Topic,
    decode_payload,
    encode_payload,
)

pytestmark = pytest.mark.mosquitto

GROUP, EDGE = "plant", "edge-1"
PUMP_TWIN = f"{GROUP}.{EDGE}.pump-7"


class EdgeNode:
    """A minimal Sparkplug 3.0 edge node: will = NDEATH(bdSeq), node-wide seq, and it records NCMDs."""

    def __init__(self, port: int, bd_seq: int = 0) -> None:
        self.seq = 0
        self.bd_seq = bd_seq
        self.ncmd: queue.Queue[Payload] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-edge-1", protocol=mqtt.MQTTv311)
        self.client.will_set(self.topic(MessageType.NDEATH), self.death(), qos=1)
        self.host_state: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(self.topic(MessageType.NCMD), 1), ("spBv1.0/STATE/+", 1)])
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith("spBv1.0/STATE/"):
            self.host_state.put({"topic": msg.topic, "retain": msg.retain, **json.loads(msg.payload)})
        else:
            self.ncmd.put(decode_payload(msg.payload))

    def topic(self, kind: MessageType, device: str | None = None) -> str:
        return str(Topic(GROUP, kind, EDGE, device))

    def death(self) -> bytes:
        return encode_payload(Payload(metrics=(Metric(BD_SEQ, self.bd_seq, DataType.INT64),)))

    def send(self, kind: MessageType, metrics: tuple[Metric, ...] = (), device: str | None = None,
             seq: int | None = None) -> None:
        if seq is None:
            seq, self.seq = self.seq, (self.seq + 1) % 256
        payload = Payload(metrics=metrics, timestamp_ms=int(time.time() * 1000),
                          seq=None if kind is MessageType.NDEATH else seq)
        # QoS 0 as Sparkplug 3.0 requires for everything but the NDEATH will; one connection keeps the order.
        self.client.publish(self.topic(kind, device), encode_payload(payload), qos=0).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def twin(rig: ApiRig, twin_id: str) -> dict[str, Any]:
    r = rig.call("GET", f"/api/v1/twins/{twin_id}")
    return r.json() if r.status_code == 200 else {}


def meta(rig: ApiRig, twin_id: str, name: str) -> dict[str, Any]:
    return dict(twin(rig, twin_id).get("$metadata", {}).get(name) or {})


def test_edge_node_births_data_deaths_and_rebirth_request(tmp_path: Path) -> None:
    port, broker = start_mosquitto(tmp_path)
    mfile = tmp_path / "mappings.yaml"
    mfile.write_text(yaml.safe_dump({"tenant": "acme", "mappings": [
        {"sparkplug": f"{GROUP}/{EDGE}/room1", "metric": "Air/Temperature", "twin": "room1",
         "property": "temperature", "unit": "degC"}]}))
    edge: EdgeNode | None = None
    try:
        with api_rig(f"sqlite:///{tmp_path / 'spb.db'}", mappings_file=mfile,
                     sparkplug_enabled=True, sparkplug_url=f"mqtt://127.0.0.1:{port}",
                     sparkplug_client_id="spb-test-host") as rig:
            assert rig.call("PUT", "/api/v1/twins/room1", json=dtdl_samples.room()).status_code in (200, 201)
            service = wait_for("the Sparkplug service", lambda: getattr(rig.platform.app.state, "sparkplug", None))
            assert service.source.wait_subscribed(10)
            edge = EdgeNode(port)
            state = edge.host_state.get(timeout=10)  # the host application announces itself (retained)
            assert state["topic"] == "spBv1.0/STATE/tvilling" and state["online"] is True and state["retain"]
            edge.send(MessageType.NBIRTH, (Metric(BD_SEQ, 0, DataType.INT64), Metric(REBIRTH, False, DataType.BOOLEAN)))
            edge.send(MessageType.DBIRTH, (Metric("Air/Temperature", 71.6, DataType.FLOAT, alias=1,
                                                  properties={"engUnit": "degF"}),), "room1")
            edge.send(MessageType.DBIRTH, (
                Metric("Motor/Speed", 1450.0, DataType.DOUBLE, alias=1, properties={"engUnit": "rpm"}),
                Metric("Bearing Temp", 41.5, DataType.DOUBLE, alias=2, properties={"engUnit": "degC"}),
                Metric("Running", True, DataType.BOOLEAN, alias=3)), "pump-7")
            time.sleep(0.01)  # distinct source times (ms) for the next sample of the same metric
            edge.send(MessageType.DDATA, (Metric(None, 1490.0, alias=1), Metric(None, 42.0, alias=2)), "pump-7")

            # Mapped device: onto the existing twin, °F converted to the mapping's °C.
            wait_for("room1 temperature", lambda: meta(rig, "room1", "temperature").get("sourceTime"))
            assert twin(rig, "room1")["temperature"] == pytest.approx(22.0, abs=1e-4)
            # Unmapped device: provisioned, metric names and units exactly as born, data values in history.
            wait_for("pump twin", lambda: twin(rig, PUMP_TWIN).get("Motor/Speed") == 1490.0)
            pump = twin(rig, PUMP_TWIN)
            assert pump["$metadata"]["$model"] == DEVICE_MODEL
            assert (pump["groupId"], pump["edgeNodeId"], pump["deviceId"]) == (GROUP, EDGE, "pump-7")
            assert pump["metrics"]["Motor/Speed"] == {"datatype": "DOUBLE", "unit": "rpm", "alias": 1}
            assert pump["$metadata"]["Motor/Speed"]["unit"] == "rpm" and pump["Running"] is True
            assert pump["$metadata"]["Bearing Temp"]["unit"] == "degC"
            hist = rig.call("GET", f"/api/v1/twins/{PUMP_TWIN}/history/{quote('Bearing Temp')}").json()
            assert [i["value"] for i in hist["items"]] == [41.5, 42.0]
            assert {i["unit"] for i in hist["items"]} == {"degC"}

            # DDEATH: the device's points go stale with the death-certificate reason.
            edge.send(MessageType.DDEATH, (), "room1")
            wait_for("room1 stale", lambda: meta(rig, "room1", "temperature").get("reason") == DEATH_REASON)
            assert meta(rig, "room1", "temperature")["quality"] == "bad"
            assert meta(rig, PUMP_TWIN, "Motor/Speed")["quality"] == "good"  # other devices live on

            # A seq gap: the values are kept, the gap is recorded and the node is asked to rebirth.
            edge.send(MessageType.DDATA, (Metric(None, 1500.0, alias=1),), "pump-7", seq=edge.seq + 5)
            ncmd = edge.ncmd.get(timeout=10)
            assert ncmd.metric(REBIRTH) is not None and ncmd.metric(REBIRTH).value is True  # type: ignore[union-attr]
            gaps = wait_for("seq_gap quarantine", lambda: rig.call(
                "GET", "/api/v1/quarantine?reason=seq_gap").json()["items"])
            assert gaps[0]["source"] == "sparkplug"
            wait_for("value after the gap", lambda: twin(rig, PUMP_TWIN).get("Motor/Speed") == 1500.0)

            # NDEATH with the session's bdSeq (here: the broker sends the will when the node vanishes).
            edge.client.socket().close()  # an unclean loss of the connection
            wait_for("pump stale on NDEATH", lambda: meta(rig, PUMP_TWIN, "Motor/Speed").get("reason") == DEATH_REASON,
                     timeout_s=30)
            assert meta(rig, PUMP_TWIN, "Bearing Temp")["quality"] == "bad"
            with rig.platform.store.engine.connect() as conn:  # the death was announced as an event
                reasons = [row[0]["changes"]["Motor/Speed"]["reason"] for row in conn.execute(
                    sa.select(schema.events.c.data).where(schema.events.c.kind == "twin.quality",
                                                          schema.events.c.subject == PUMP_TWIN))]
            assert reasons == [DEATH_REASON]
    finally:
        if edge is not None:
            edge.client.loop_stop()
        stop_mosquitto(broker)
