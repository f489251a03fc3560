"""MQTT command transport (paho-mqtt 2.x): publish ``{command_id, command, value}`` on the device's command topic,
hear the answer on the MQTT 5 response topic (with the command id as correlation data) or on the plain ack topic.

Wire format (agrees with ``tvilling.virtual_plant.mqtt_json`` and docs/commands.md):
  out ``<command topic>``       ``{"command_id", "command", "value"?, "lease_s"?, "holder"?}``; MQTT 5: ResponseTopic,
                                CorrelationData, MessageExpiryInterval (the device drops it once the command has
                                expired)
  out ``<command topic>/lease`` ``{"holder", "lease_s"}``: renews the holder's supervisory leases on the device
                                (0 releases them); never retained, and on MQTT 5 it expires after a quarter of the
                                lease (the next renewal's due), so one the broker held back cannot stretch a lease
  in  ``<command topic>/ack``   ``{"command_id", "status": "applied"|"rejected", "reason"?, ...}`` (every device)
  in  response topic            the same body, with our correlation data (MQTT 5 devices)
Why both: MQTT 3.1.1 (the embedded amqtt broker) has no response topic, so the ack topic is the fallback, and an
MQTT 5 device sends both; the first answer per command wins, the repeat is dropped here.

``send`` returns when the broker has acknowledged the QoS 1 publish (PUBACK): the command has left the platform.
Subscriptions to ack topics are made before the first publish to that device; MQTT brokers process one
connection's packets in order, so the subscription is in place before the device can answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tvilling.ports.clock import Clock, SystemClock
from tvilling.ports.commands import (
    CommandOutcome,
    CommandRequest,
    CommandSendError,
    CommandTarget,
    OutcomeCallback,
)

log = logging.getLogger(__name__)

ACKED = {"applied", "acked", "ok", "success", "done"}
FAILED = {"rejected", "failed", "error", "refused"}
_REMEMBERED = 10_000


@dataclass
class MqttCommandSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "tvilling-commands"
    protocol: int = 5  # or 4 (3.1.1): no response topic, acks on the ack topic only
    qos: int = 1
    keepalive_s: int = 30
    connect_timeout_s: float = 10.0
    publish_timeout_s: float = 10.0
    ack_suffix: str = "/ack"
    lease_suffix: str = "/lease"
    response_topic: str | None = None  # default tvilling/command-responses/<client_id>
    username: str | None = None
    password: str | None = field(default=None, repr=False)


class MqttCommandTransport:
    def __init__(self, settings: MqttCommandSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self._v5 = settings.protocol == 5
        self.response_topic = settings.response_topic or f"tvilling/command-responses/{settings.client_id}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_outcome: OutcomeCallback | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._ack_topics: set[str] = set()
        self._answered: OrderedDict[str, None] = OrderedDict()
        version = MQTTProtocolVersion.MQTTv5 if self._v5 else MQTTProtocolVersion.MQTTv311
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=version,
                        clean_session=None if self._v5 else True)
        if settings.username is not None:
            c.username_pw_set(settings.username, settings.password)
        c.reconnect_delay_set(1, 30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._client = c

    @property
    def name(self) -> str:
        return "mqtt"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, on_outcome: OutcomeCallback) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_outcome = on_outcome
        s = self.settings
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self._client.loop_start()
        # Not fatal when the broker is down: paho keeps reconnecting, and send() refuses until it is back.
        if not await asyncio.to_thread(self._connected.wait, s.connect_timeout_s):
            log.warning("command transport: MQTT broker %s:%d not reachable yet", s.host, s.port)

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def ready(self, request: CommandRequest) -> None:
        if not self._connected.is_set():
            # Starting up or reconnecting: wait a little (never past the command's deadline) before giving up.
            left = (request.expires_at - self._clock.now()).total_seconds()
            wait_s = max(0.0, min(self.settings.connect_timeout_s, left))
            if not await asyncio.to_thread(self._connected.wait, wait_s):
                raise CommandSendError(f"MQTT broker {self.settings.host}:{self.settings.port} is not connected")

    async def send(self, request: CommandRequest) -> CommandOutcome | None:
        if not self._connected.is_set():  # lost since ready(): fail now rather than publish after a reconnect
            raise CommandSendError(f"MQTT broker {self.settings.host}:{self.settings.port} is not connected")
        topic = request.target.address
        ack_topic = str(request.target.options.get("ack_topic") or topic + self.settings.ack_suffix)
        with self._lock:
            new_ack = ack_topic not in self._ack_topics
            self._ack_topics.add(ack_topic)
        if new_ack:
            self._client.subscribe(ack_topic, qos=1)
        body: dict[str, Any] = {"command_id": request.command_id,
                                "command": request.target.device_command or request.name}
        if request.value is not None:
            body["value"] = request.value
        if request.lease_s is not None:
            body["lease_s"] = request.lease_s
            body["holder"] = request.holder
        props = None
        if self._v5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = self.response_topic
            props.CorrelationData = request.command_id.encode()
            left = (request.expires_at - self._clock.now()).total_seconds()
            props.MessageExpiryInterval = max(1, math.ceil(left))
        await self._publish(topic, body, props)
        return None

    async def renew_lease(self, target: CommandTarget, holder: str, lease_s: float) -> None:
        if not self._connected.is_set():
            raise CommandSendError(f"MQTT broker {self.settings.host}:{self.settings.port} is not connected")
        topic = str(target.options.get("lease_topic") or target.address + self.settings.lease_suffix)
        props = None
        if self._v5 and lease_s > 0:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            # A renewal is superseded by the next one (every quarter lease): one held back longer is stale, and
            # delivered late it would stretch a lease whose holder may be gone.
            props.MessageExpiryInterval = max(1, math.floor(lease_s / 4))
        await self._publish(topic, {"holder": holder, "lease_s": lease_s}, props)

    async def _publish(self, topic: str, body: dict[str, Any], props: Properties | None) -> None:
        """QoS ``settings.qos``, never retained; returns on PUBACK, raises :class:`CommandSendError` otherwise."""
        info = self._client.publish(topic, json.dumps(body, separators=(",", ":")), qos=self.settings.qos,
                                    properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CommandSendError(f"MQTT publish to {topic} refused: {mqtt.error_string(info.rc)}")
        try:
            await asyncio.to_thread(info.wait_for_publish, self.settings.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise CommandSendError(f"MQTT publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise CommandSendError(f"no PUBACK from the broker for {topic} within "
                                   f"{self.settings.publish_timeout_s:g} s")

    # -- paho callbacks (network thread) --------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("command transport: MQTT connect refused: %s", reason)
            return
        _no_delay(client)
        with self._lock:
            topics = sorted(self._ack_topics)
        for t in ([self.response_topic] if self._v5 else []) + topics:
            client.subscribe(t, qos=1)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _reason: Any, _p: Any = None) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        outcome = parse_answer(bytes(msg.payload), getattr(getattr(msg, "properties", None), "CorrelationData", None))
        if outcome is None or self._loop is None or self._on_outcome is None:
            return
        with self._lock:
            if outcome.command_id in self._answered:
                return  # the same answer on the other topic, or the device's duplicate reply
            self._answered[outcome.command_id] = None
            while len(self._answered) > _REMEMBERED:
                self._answered.popitem(last=False)
        asyncio.run_coroutine_threadsafe(self._on_outcome(outcome), self._loop)


def _no_delay(client: mqtt.Client) -> None:
    """A command is one small packet and someone waits for its answer: without TCP_NODELAY, Nagle's algorithm
    holding it back for the peer's delayed ACK adds ~40 ms per hop (paho does not set it)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def parse_answer(payload: bytes, correlation: bytes | None = None) -> CommandOutcome | None:
    """A device's answer -> outcome; None for anything that is not an answer (logged, never raised)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        log.info("command answer is not JSON; ignored")
        return None
    if not isinstance(data, dict):
        return None
    cid = data.get("command_id")
    if not isinstance(cid, str) or not cid:
        cid = correlation.decode(errors="replace") if correlation else None
    status = str(data.get("status", "")).lower()
    if not cid or status not in ACKED | FAILED:
        return None
    detail = {k: v for k, v in data.items() if k not in ("command_id", "status", "reason")}
    if status in ACKED:
        return CommandOutcome(cid, "acked", "", detail)
    return CommandOutcome(cid, "failed", str(data.get("reason") or f"device answered {status}"), detail)
