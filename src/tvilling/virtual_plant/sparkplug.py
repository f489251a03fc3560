"""Sparkplug B edge node for the virtual plant (Sparkplug 3.0), beside the MQTT JSON endpoint.

One edge node ``spBv1.0/<group>/…/<edge>`` (default ``bottling`` / ``virtual-plant``) publishes the chosen devices
(default in the demo: ``chiller-1`` and ``hall``) the way a Sparkplug gateway would:

* on connect: NBIRTH (``seq`` 0, ``bdSeq``, ``Node Control/Rebirth``); the MQTT will is the matching NDEATH;
  every reconnect is a new session (``bdSeq`` + 1);
* per device: DBIRTH on its first readings (every sensor metric with alias, Double, engUnit; every command as a
  writable metric), then DDATA by alias with ``seq`` 0..255 continuing across the node's messages; a NaN
  reading is an ``is_null`` metric;
* NCMD ``Node Control/Rebirth``: NBIRTH and all DBIRTHs again, with the last known values;
* DCMD: each metric is a command for that device (``set_setpoint_c = 8.0``, ``start = true``); it is applied by
  the runner like any other command, and acknowledged as Sparkplug devices do, by publishing the changed metric
  in DDATA (nothing is published for a rejected command);
* on close: DDEATH per device, then NDEATH, then a clean disconnect.

Publishing runs on the runner's thread; paho's thread only queues what arrived (commands, rebirth requests).
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tvilling.protocols.sparkplug import (
    BD_SEQ,
    NAMESPACE,
    REBIRTH,
    DataType,
    MessageType,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    decode_payload,
    encode_payload,
    parse_topic,
)
from tvilling.virtual_plant.mqtt_json import IncomingCommand, IncomingLease, connect_client, parse_broker_url
from tvilling.virtual_plant.runner import Endpoint
from tvilling.virtual_plant.sensors import SensorReading

DEFAULT_GROUP = "bottling"
DEFAULT_EDGE = "virtual-plant"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class _Device:
    def __init__(self, metrics: Sequence[tuple[str, str]], commands: Sequence[tuple[str, str, bool]]) -> None:
        self.units = dict(metrics)
        self.commands = {name: (unit, has_value) for name, unit, has_value in commands}
        names = [*self.units, *(c for c in self.commands if c not in self.units)]
        self.alias = {name: i + 1 for i, name in enumerate(names)}
        self.last: dict[str, tuple[float | None, int]] = {}  # name -> (value, timestamp ms)
        self.born = False


class SparkplugEndpoint:
    """An :class:`~tvilling.virtual_plant.runner.Endpoint` speaking Sparkplug B for ``devices``."""

    def __init__(self, broker_url: str, devices: Mapping[str, Sequence[tuple[str, str]]],
                 commands: Mapping[str, Sequence[tuple[str, str, bool]]] | None = None, *,
                 group_id: str = DEFAULT_GROUP, edge_node_id: str = DEFAULT_EDGE,
                 client_id: str = "tvilling-virtual-plant-spb", protocol: int = 5) -> None:
        self.host, self.port = parse_broker_url(broker_url)
        self.group_id, self.edge_node_id = group_id, edge_node_id
        self.devices = {d: _Device(m, (commands or {}).get(d, ())) for d, m in devices.items()}
        self.bd_seq = 0
        self.seq = 0
        self.published = 0
        self.rebirths = 0
        self.commands: queue.Queue[IncomingCommand] = queue.Queue()
        self._rebirth = threading.Event()
        self._connected = threading.Event()
        self._connect_rc: Any = None
        self._command_no = 0
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c
        self._set_will()

    # -- topics and payloads --------------------------------------------------------------------------------
    def _topic(self, kind: MessageType, device: str | None = None) -> str:
        return str(Topic(self.group_id, kind, self.edge_node_id, device))

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    def _death_payload(self) -> bytes:
        return encode_payload(Payload(metrics=(Metric(BD_SEQ, self.bd_seq, DataType.INT64),),
                                      timestamp_ms=int(time.time() * 1000)))

    def _set_will(self) -> None:
        self.client.will_set(self._topic(MessageType.NDEATH), self._death_payload(), qos=1, retain=False)

    def _publish(self, topic: str, payload: Payload) -> Any:
        # Sparkplug 3.0: births, data and DDEATH are QoS 0, not retained; only the NDEATH will is QoS 1.
        self.published += 1
        return self.client.publish(topic, encode_payload(payload), qos=0)

    # -- paho callbacks (network thread: they only record what happened) -----------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self._connect_rc = rc
        if rc.is_failure:
            return
        dcmd = f"{NAMESPACE}/{self.group_id}/{MessageType.DCMD}/{self.edge_node_id}/+"
        client.subscribe([(self._topic(MessageType.NCMD), 1), (dcmd, 1)])
        if self._connected.is_set():
            return
        self._rebirth.set()  # a (re)connected session starts with NBIRTH, published from the runner's thread
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
        # The broker sent our NDEATH (or we did): the next connection is a new session with the next bdSeq.
        self._connected.clear()
        self.bd_seq = (self.bd_seq + 1) % 256
        self._set_will()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = parse_topic(msg.topic)
            payload = decode_payload(bytes(msg.payload))
        except SparkplugError:
            return  # not ours to answer: Sparkplug has no error reply for undecodable commands
        if topic.edge_node_id != self.edge_node_id:
            return
        if topic.message_type is MessageType.NCMD:
            rebirth = payload.metric(REBIRTH)
            if rebirth is not None and rebirth.value is True:
                self._rebirth.set()
            return
        if topic.message_type is not MessageType.DCMD or topic.device_id not in self.devices:
            return
        for m in payload.metrics:
            self._command_no += 1
            cid = f"dcmd-{payload.timestamp_ms or 0}-{payload.seq or 0}-{self._command_no}"
            value: Any = m.value
            if m.datatype is DataType.BOOLEAN or isinstance(value, bool):
                value = None  # start/stop/maintenance: writing the metric triggers the command
            name = m.name or ""
            self.commands.put(IncomingCommand(topic.device_id, {"command_id": cid, "command": name, "value": value},
                                              "", None, None))

    # -- Endpoint -------------------------------------------------------------------------------------------
    def connect(self, timeout_s: float = 10.0) -> None:
        connect_client(self.client, self.host, self.port, self._connected, lambda: self._connect_rc, timeout_s)
        self._maybe_rebirth()

    def _maybe_rebirth(self) -> None:
        if not self._rebirth.is_set():
            return
        self._rebirth.clear()
        self.rebirths += 1
        self.seq = 0
        now = int(time.time() * 1000)
        self._publish(self._topic(MessageType.NBIRTH), Payload(
            metrics=(Metric(BD_SEQ, self.bd_seq, DataType.INT64), Metric(REBIRTH, False, DataType.BOOLEAN)),
            timestamp_ms=now, seq=self._next_seq()))
        for name, dev in self.devices.items():
            if dev.born:
                self._dbirth(name, dev, now)

    def _dbirth(self, device: str, dev: _Device, now_ms: int) -> None:
        metrics: list[Metric] = []
        for name, alias in dev.alias.items():
            if name in dev.units:
                value, ts = dev.last.get(name, (None, now_ms))
                metrics.append(Metric(name, value, DataType.DOUBLE, alias=alias, timestamp_ms=ts,
                                      is_null=value is None, properties={"engUnit": dev.units[name]}))
            else:
                unit, has_value = dev.commands[name]
                dt = DataType.DOUBLE if has_value else DataType.BOOLEAN
                metrics.append(Metric(name, None, dt, alias=alias, timestamp_ms=now_ms, is_null=True,
                                      properties={"engUnit": unit} if unit else {}))
        self._publish(self._topic(MessageType.DBIRTH, device),
                      Payload(metrics=tuple(metrics), timestamp_ms=now_ms, seq=self._next_seq()))
        dev.born = True

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None:
        dev = self.devices.get(device)
        if dev is None:
            return
        self._maybe_rebirth()
        for r in readings:
            value = None if r.value is None or not math.isfinite(r.value) else float(r.value)
            dev.last[r.name] = (value, _ms(r.source_time))
        if not dev.born:  # the first readings travel in the birth certificate …
            self._dbirth(device, dev, _ms(readings[0].source_time) if readings else int(time.time() * 1000))
            # … except bad (NaN) ones: a null in a birth means "no value yet", so they follow as null DATA.
            readings = [r for r in readings if dev.last.get(r.name, (0.0, 0))[0] is None]
        metrics = tuple(Metric(None, dev.last[r.name][0], DataType.DOUBLE, alias=dev.alias[r.name],
                               timestamp_ms=dev.last[r.name][1], is_null=dev.last[r.name][0] is None)
                        for r in readings if r.name in dev.alias)
        if metrics:
            self._publish(self._topic(MessageType.DDATA, device),
                          Payload(metrics=metrics, timestamp_ms=metrics[0].timestamp_ms, seq=self._next_seq()))

    def take_commands(self) -> list[IncomingCommand]:
        self._maybe_rebirth()
        out: list[IncomingCommand] = []
        while True:
            try:
                out.append(self.commands.get_nowait())
            except queue.Empty:
                return out

    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None:
        dev = self.devices.get(cmd.device)
        name = (cmd.payload or {}).get("command")
        if dev is None or body.get("status") != "applied" or not isinstance(name, str) or name not in dev.alias:
            return
        value = body.get("value")
        _unit, has_value = dev.commands.get(name, ("", True))
        now = int(time.time() * 1000)
        metric = (Metric(None, float(value), DataType.DOUBLE, alias=dev.alias[name], timestamp_ms=now)
                  if has_value and isinstance(value, int | float) else
                  Metric(None, True, DataType.BOOLEAN, alias=dev.alias[name], timestamp_ms=now))
        self._publish(self._topic(MessageType.DDATA, cmd.device),
                      Payload(metrics=(metric,), timestamp_ms=now, seq=self._next_seq()))

    def close(self, timeout_s: float = 10.0) -> None:
        infos = [self._publish(self._topic(MessageType.DDEATH, name),
                               Payload(timestamp_ms=int(time.time() * 1000), seq=self._next_seq()))
                 for name, dev in self.devices.items() if dev.born]
        infos.append(self.client.publish(self._topic(MessageType.NDEATH), self._death_payload(), qos=1))
        for info in infos:
            with contextlib.suppress(RuntimeError, ValueError):  # not connected: the broker sends the will
                info.wait_for_publish(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()


class WithoutDevices:
    """An endpoint that leaves some devices out (they are published over Sparkplug instead)."""

    def __init__(self, inner: Endpoint, devices: set[str]) -> None:
        self.inner, self.devices = inner, devices

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None:
        if device not in self.devices:
            self.inner.publish_readings(device, seq, source_ts, readings)

    def take_commands(self) -> Sequence[IncomingCommand | IncomingLease]:
        return self.inner.take_commands()

    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None:
        self.inner.ack(cmd, body)
