"""Sparkplug B over MQTT for the platform (a Sparkplug 3.0 *host application*).

Reuses :class:`tvilling.adapters.mqtt.MqttSource` (paho, QoS 1, manual ack after the durable commit, persistent
session, capped reconnect backoff) subscribed to ``spBv1.0/#``, and adds what a host application publishes:

* ``spBv1.0/STATE/<host_id>``: retained ``{"online": true, "timestamp": ms}`` on every connect and the same with
  ``false`` as the MQTT will, so edge nodes can tell whether their primary host is there (spec §5.12).
* ``NCMD`` ``Node Control/Rebirth = true`` to an edge node whose state the host lost track of (seq gap, data
  before birth); ``DCMD`` writes for device commands (:class:`SparkplugCommandTransport`, the platform's command
  transport for ``transport: sparkplug`` rows).

No shared subscription: sequence numbers and aliases are per edge node, so one host must see all its messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from tvilling.adapters.mqtt import MessageHandler, MqttSettings, MqttSource
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, OutcomeCallback
from tvilling.protocols.sparkplug import (
    REBIRTH,
    DataType,
    DeviceKey,
    MessageType,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    encode_payload,
    state_topic,
)

log = logging.getLogger(__name__)

SUBSCRIPTION = "spBv1.0/#"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _state(online: bool) -> bytes:
    return json.dumps({"online": online, "timestamp": _now_ms()}, separators=(",", ":")).encode()


class SparkplugSource(MqttSource):
    """An MQTT source for ``spBv1.0/#`` that also speaks as a Sparkplug host application."""

    def __init__(self, settings: MqttSettings, handler: MessageHandler, host_id: str = "tvilling") -> None:
        settings.topics = (SUBSCRIPTION,)
        settings.shared_group = None
        super().__init__(settings, handler)
        self.host_id = host_id
        self._state_topic = str(state_topic(host_id))
        self._client.will_set(self._state_topic, _state(False), qos=1, retain=True)
        self.rebirths_sent = 0

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        super()._on_connect(client, userdata, flags, reason, props)
        if not reason.is_failure:
            client.publish(self._state_topic, _state(True), qos=1, retain=True)

    def stop(self) -> None:
        if self.connected:
            info = self._client.publish(self._state_topic, _state(False), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # not connected: the will says offline instead
                info.wait_for_publish(2.0)
        super().stop()

    # -- commands to edge nodes (thread-safe: paho's publish may be called from any thread) -------------------
    def request_rebirth(self, node: DeviceKey) -> None:
        payload = Payload(metrics=(Metric(REBIRTH, True, DataType.BOOLEAN),), timestamp_ms=_now_ms())
        topic = Topic(node.group_id, MessageType.NCMD, node.edge_node_id)
        self._client.publish(str(topic), encode_payload(payload), qos=0)  # commands are QoS 0 (spec §7)
        self.rebirths_sent += 1
        log.info("Sparkplug: asked edge node %s to rebirth", node)

    def write_metrics(self, key: DeviceKey, metrics: Sequence[Metric]) -> mqtt.MQTTMessageInfo:
        """NCMD (key without device) or DCMD: ask the edge node to write these metrics (QoS 0, spec §7)."""
        kind = MessageType.NCMD if key.device_id is None else MessageType.DCMD
        topic = Topic(key.group_id, kind, key.edge_node_id, key.device_id)
        return self._client.publish(str(topic), encode_payload(Payload(metrics=tuple(metrics),
                                                                       timestamp_ms=_now_ms())), qos=0)


ValueObserver = Callable[[DeviceKey, str, Any, "int | None"], None]


class SparkplugHost(Protocol):
    """What the command transport needs from the running Sparkplug host (app/ingest_sparkplug.py)."""

    source: SparkplugSource

    def add_observer(self, observer: ValueObserver) -> None: ...


def _datatype(name: Any, value: Any) -> DataType:
    if isinstance(name, str) and name:
        try:
            return DataType[name.upper()]
        except KeyError as exc:
            raise CommandSendError(f"unknown Sparkplug datatype {name!r}") from exc
    if value is None or isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INT64
    if isinstance(value, float):
        return DataType.DOUBLE
    return DataType.STRING


class SparkplugCommandTransport:
    """Commands as Sparkplug metric writes (``transport: sparkplug`` in commands.yaml): a DCMD (NCMD for a node
    address ``group/edge``) writing ``device_command`` = value; a command without a value writes ``true``.

    Sparkplug has no command ids or acks: a device acknowledges by publishing the changed metric (DDATA). The
    host's ingest path reports every value it decodes to :meth:`observe`; the first report of the commanded
    metric after the send acknowledges the oldest command waiting on it, with the reported value in the detail.
    A device that refuses says nothing, and the command expires. ``send`` returns once the DCMD is on the wire.
    """

    def __init__(self, host: Callable[[], SparkplugHost | None], publish_timeout_s: float = 10.0) -> None:
        self._host = host
        self.publish_timeout_s = publish_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_outcome: OutcomeCallback | None = None
        self._observing: SparkplugHost | None = None
        self._lock = threading.Lock()
        self._waiting: dict[tuple[DeviceKey, str], deque[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return "sparkplug"

    async def start(self, on_outcome: OutcomeCallback) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_outcome = on_outcome

    async def close(self) -> None:
        with self._lock:
            self._waiting.clear()

    async def ready(self, request: CommandRequest) -> None:
        host = self._host()
        if host is None or not host.source.connected:
            raise CommandSendError("Sparkplug host is not connected (sparkplug_enabled and a reachable broker?)")

    async def send(self, request: CommandRequest) -> CommandOutcome | None:
        host = self._host()
        if host is None or not host.source.connected:
            raise CommandSendError("Sparkplug host is not connected (sparkplug_enabled and a reachable broker?)")
        if self._observing is not host:
            host.add_observer(self.observe)
            self._observing = host
        parts = request.target.address.strip("/").split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise CommandSendError(f"Sparkplug address {request.target.address!r} is not group/edge[/device]")
        key = DeviceKey(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
        metric_name = request.target.device_command or request.name
        value = True if request.value is None else request.value
        try:
            metric = Metric(metric_name, value, _datatype(request.target.options.get("datatype"), request.value))
            info = host.source.write_metrics(key, [metric])
        except SparkplugError as exc:
            raise CommandSendError(f"cannot encode {metric_name}={value!r}: {exc}") from exc
        with self._lock:
            self._waiting.setdefault((key, metric_name), deque()).append(request.command_id)
        try:
            await asyncio.to_thread(info.wait_for_publish, self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            self._forget(key, metric_name, request.command_id)
            raise CommandSendError(f"DCMD to {key} failed: {exc}") from exc
        if not info.is_published():
            self._forget(key, metric_name, request.command_id)
            raise CommandSendError(f"DCMD to {key} not sent within {self.publish_timeout_s:g} s")
        return None

    def _forget(self, key: DeviceKey, metric: str, command_id: str) -> None:
        with self._lock:
            q = self._waiting.get((key, metric))
            if q is not None and command_id in q:
                q.remove(command_id)

    def observe(self, key: DeviceKey, metric: str, value: Any, timestamp_ms: int | None) -> None:
        """A value the host decoded (any thread): the echo of a commanded metric acknowledges the command."""
        with self._lock:
            q = self._waiting.get((key, metric))
            if not q:
                return
            command_id = q.popleft()
        loop, callback = self._loop, self._on_outcome
        if loop is None or callback is None:
            return
        detail = {"value": value, "metric": metric, **({"timestamp_ms": timestamp_ms} if timestamp_ms else {})}
        outcome = CommandOutcome(command_id, "acked", detail=detail)

        def deliver() -> None:  # on the event loop; the set keeps the task referenced until it is done
            task = loop.create_task(callback(outcome))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_soon_threadsafe(deliver)
