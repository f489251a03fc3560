"""The plant publishing chiller-1 and hall as a Sparkplug B edge node against a real Mosquitto: births with bdSeq,
aliases and engUnits, node-wide seq, rebirth on NCMD, DCMD commands acknowledged by re-publishing the metric,
DDEATH/NDEATH on stop; the other devices stay on MQTT JSON."""

from __future__ import annotations

import itertools
import queue
import signal
import subprocess
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tvilling.protocols.sparkplug import (
    BD_SEQ,
    REBIRTH,
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
    parse_topic,
)

pytestmark = pytest.mark.mosquitto
PREFIX = "spBv1.0/bottling"
Msg = tuple[str, Any]


def _next(q: queue.Queue[Msg], pred: Any, timeout_s: float = 15.0) -> Msg:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            topic, payload = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if pred(topic, payload):
            return topic, payload
    raise AssertionError(f"no matching message within {timeout_s} s")


def test_plant_speaks_sparkplug_for_chosen_devices(mosquitto_broker: int) -> None:  # noqa: F811
    port = mosquitto_broker
    q: queue.Queue[Msg] = queue.Queue()
    topics: set[str] = set()  # every topic seen, consumed or not
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-host", protocol=mqtt.MQTTv311)

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        topics.add(msg.topic)
        q.put((msg.topic, decode_payload(msg.payload) if msg.topic.startswith("spBv1.0/") else msg.payload))

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe([(f"{PREFIX}/#", 1), ("plant/+/telemetry", 0)])
    sub.loop_start()
    time.sleep(0.3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tvilling.virtual_plant", "--speed", "600", "--duration", "60", "--seed", "5",
         "--broker", f"mqtt://127.0.0.1:{port}", "--sparkplug-devices", "chiller-1,hall", "--mqtt-version", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, nbirth = _next(q, lambda t, _p: t == f"{PREFIX}/NBIRTH/virtual-plant")
        bd = nbirth.metric(BD_SEQ)
        assert nbirth.seq == 0 and bd is not None and bd.datatype is DataType.INT64
        assert nbirth.metric(REBIRTH) is not None
        _, dbirth = _next(q, lambda t, _p: t == f"{PREFIX}/DBIRTH/virtual-plant/chiller-1")
        chw = dbirth.metric("chw_supply_temp")
        assert chw is not None and chw.eng_unit == "degC" and chw.alias is not None
        assert dbirth.metric("set_setpoint_c") is not None and dbirth.metric("start") is not None
        aliases = {m.alias: m.name for m in dbirth.metrics}
        # seq runs across all of the node's messages, modulo 256.
        seqs = [dbirth.seq]
        while len(seqs) < 6:
            _topic, p = _next(q, lambda t, _p: t.startswith(PREFIX) and "/D" in t)
            seqs.append(p.seq)
        assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(seqs)), seqs
        # The other devices stay on MQTT JSON; the Sparkplug ones are not published twice.
        _next(q, lambda t, _p: t == "plant/pump-1/telemetry")
        assert "plant/chiller-1/telemetry" not in topics and "plant/hall/telemetry" not in topics

        # NCMD Node Control/Rebirth: NBIRTH (seq 0, same bdSeq) and every DBIRTH again.
        sub.publish(f"{PREFIX}/NCMD/virtual-plant", encode_payload(Payload(
            metrics=(Metric(REBIRTH, True, DataType.BOOLEAN),), timestamp_ms=int(time.time() * 1000))), qos=1)
        _, again = _next(q, lambda t, _p: t == f"{PREFIX}/NBIRTH/virtual-plant")
        assert again.seq == 0 and again.metric(BD_SEQ).value == bd.value  # type: ignore[union-attr]
        born = {parse_topic(_next(q, lambda t, _p: "/DBIRTH/" in t)[0]).device_id for _ in range(2)}
        assert born == {"chiller-1", "hall"}

        # DCMD: a command as a metric write, acknowledged by re-publishing the metric with the applied value.
        sub.publish(f"{PREFIX}/DCMD/virtual-plant/chiller-1", encode_payload(Payload(
            metrics=(Metric("set_setpoint_c", 8.0, DataType.DOUBLE),), timestamp_ms=int(time.time() * 1000))), qos=1)
        set_alias = next(a for a, n in aliases.items() if n == "set_setpoint_c")
        _, ack = _next(q, lambda t, p: t.endswith("/DDATA/virtual-plant/chiller-1")
                       and any(m.alias == set_alias for m in p.metrics))
        assert next(m.value for m in ack.metrics if m.alias == set_alias) == 8.0
        # The physics follows: the chiller's setpoint metric reports the new value.
        sp_alias = next(a for a, n in aliases.items() if n == "setpoint")
        _next(q, lambda t, p: t.endswith("/chiller-1") and any(
            m.alias == sp_alias and m.value == pytest.approx(8.0, abs=0.5) for m in p.metrics), timeout_s=20)

        # Stop: DDEATH per device, then NDEATH with the session's bdSeq.
        proc.send_signal(signal.SIGTERM)
        dead = {parse_topic(_next(q, lambda t, _p: "/DDEATH/" in t)[0]).device_id for _ in range(2)}
        assert dead == {"chiller-1", "hall"}
        _, ndeath = _next(q, lambda t, _p: t == f"{PREFIX}/NDEATH/virtual-plant")
        assert ndeath.metric(BD_SEQ).value == bd.value  # type: ignore[union-attr]
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sub.loop_stop()
        sub.disconnect()
