"""MQTT JSON publisher/command endpoint for the virtual plant (paho-mqtt, MQTT 5).

Topics (``<device>`` is e.g. ``pump-1``):
  ``plant/<device>/telemetry``      ``{device_id, seq, source_ts, points: {name: value|null}, units: {name: unit}}``
  ``plant/<device>/commands``       in: ``{command_id, command, value?}`` (``name`` is accepted for ``command``)
  ``plant/<device>/commands/ack``   out: ``{command_id, device_id, status, reason?, applied_at?, duplicate}``
  ``plant/<device>/commands/lease`` in: ``{holder, lease_s}`` renews (0: releases) the holder's supervisory
                                    leases on the device (a command may carry ``lease_s`` and ``holder``; see
                                    ``virtual_plant/leases.py``)
  ``plant/status``                  retained ``online`` / ``offline`` (the last will)
Acks also go to the MQTT 5 response topic, with the correlation data, when the command carries one.
``null`` stands for a NaN reading: JSON has no NaN, and the platform must flag it, not choke on it.

Other protocols (Sparkplug B, OPC UA) implement the same three methods (``publish_readings``, ``take_commands``,
``ack``) and the runner drives them all alike.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tvilling.virtual_plant.errors import ConfigError, VirtualPlantError
from tvilling.virtual_plant.sensors import SensorReading

TOPIC_ROOT = "plant"
_T = TypeVar("_T")


@dataclass(frozen=True)
class IncomingLease:
    device: str
    payload: dict[str, Any] | None  # None: not a JSON object (counted and reported as rejected)


@dataclass(frozen=True)
class IncomingCommand:
    device: str
    payload: dict[str, Any] | None  # None: not a JSON object (rejected with a reason)
    error: str
    response_topic: str | None
    correlation: bytes | None


def connect_client(client: mqtt.Client, host: str, port: int, connected: threading.Event,
                   connect_rc: Callable[[], Any], timeout_s: float) -> None:
    """Connect, start paho's network thread and wait for CONNACK; one clear error otherwise."""
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise VirtualPlantError(f"cannot reach MQTT broker {host}:{port}: {exc}") from exc
    client.loop_start()
    if not connected.wait(timeout_s):
        client.loop_stop()
        raise VirtualPlantError(f"MQTT broker {host}:{port} did not accept the connection ({connect_rc()})")


def parse_broker_url(url: str) -> tuple[str, int]:
    u = urlparse(url)
    if u.scheme not in ("mqtt", "tcp") or not u.hostname:
        raise ConfigError(f"broker URL must look like mqtt://host:port, got {url!r}")
    return u.hostname, u.port or 1883


class MqttJsonEndpoint:
    def __init__(self, broker_url: str, client_id: str = "tvilling-virtual-plant", qos: int = 1,
                 protocol: int = 5) -> None:
        self.host, self.port = parse_broker_url(broker_url)
        self.qos = qos
        # Commands and lease messages in one queue, in the order they arrived: a release followed by a new leased
        # command must not be applied the other way round.
        self.commands: queue.Queue[IncomingCommand | IncomingLease] = queue.Queue()
        self._connected = threading.Event()
        self._connect_rc: Any = None
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311)
        c.max_inflight_messages_set(1000)  # accelerated time publishes in bursts
        c.max_queued_messages_set(0)
        c.will_set(f"{TOPIC_ROOT}/status", b"offline", qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        self.client = c
        self.published = 0
        # Every publish and every completion (PUBACK for QoS 1) is counted, so close() can wait until paho's
        # outgoing queue is really empty: telemetry is queued without bound while the broker lags.
        self._count_lock = threading.Lock()
        self._issued = 0
        self._completed = 0

    # paho callbacks run on its network thread; they only enqueue.
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self._connect_rc = rc
        if not rc.is_failure:
            client.subscribe([(f"{TOPIC_ROOT}/+/commands", 1), (f"{TOPIC_ROOT}/+/commands/lease", 1)])
            self._publish(f"{TOPIC_ROOT}/status", b"online", qos=1, retain=True)
            self._connected.set()

    def _on_publish(self, *_a: Any) -> None:
        with self._count_lock:
            self._completed += 1

    def _publish(self, topic: str, payload: Any, **kw: Any) -> mqtt.MQTTMessageInfo:
        with self._count_lock:
            self._issued += 1
        return self.client.publish(topic, payload, **kw)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) == 4 and parts[2:] == ["commands", "lease"]:
            self.commands.put(IncomingLease(parts[1], _json_object(msg.payload)))
            return
        if len(parts) != 3 or parts[2] != "commands":
            return
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        try:
            data = json.loads(msg.payload)
            error = "" if isinstance(data, dict) else "command payload must be a JSON object"
        except (ValueError, UnicodeDecodeError):
            data, error = None, "command payload is not valid JSON"
        self.commands.put(IncomingCommand(parts[1], data if isinstance(data, dict) else None, error,
                                          response_topic, correlation))

    def connect(self, timeout_s: float = 10.0) -> None:
        connect_client(self.client, self.host, self.port, self._connected, lambda: self._connect_rc, timeout_s)

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None:
        payload = {
            "device_id": device, "seq": seq, "source_ts": source_ts,
            "points": {r.name: r.value for r in readings},
            "units": {r.name: r.unit for r in readings},
        }
        self._publish(f"{TOPIC_ROOT}/{device}/telemetry", json.dumps(payload, separators=(",", ":")), qos=self.qos)
        self.published += 1

    def take_commands(self) -> list[IncomingCommand | IncomingLease]:
        return _drain(self.commands)

    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":"))
        self._publish(f"{TOPIC_ROOT}/{cmd.device}/commands/ack", data, qos=1)
        if cmd.response_topic:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if cmd.correlation is not None:
                props.CorrelationData = cmd.correlation
            self._publish(cmd.response_topic, data, qos=1, properties=props)

    def unfinished(self) -> int:
        """Messages handed to paho that the broker has not acknowledged yet (queued or in flight)."""
        with self._count_lock:
            return self._issued - self._completed

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush, then disconnect. Waits for EVERY queued message, not only the last one: in accelerated time
        the plant can run far ahead of a slow broker, and disconnecting early dropped the whole backlog (a
        90-day demo lost ~11 % of its readings). Gives up only after ``timeout_s`` without any progress."""
        info = self._publish(f"{TOPIC_ROOT}/status", b"offline", qos=1, retain=True)
        last, since = self.unfinished(), time.monotonic()
        while last > 0 and time.monotonic() - since < timeout_s:
            time.sleep(0.05)
            now = self.unfinished()
            if now < last:
                last, since = now, time.monotonic()
        # Not connected any more: the broker publishes the will instead.
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(0.1)
        self.client.disconnect()
        self.client.loop_stop()


def _drain(q: queue.Queue[_T]) -> list[_T]:
    out: list[_T] = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def _json_object(payload: bytes | bytearray) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
