"""MQTT source on paho-mqtt 2.x with MANUAL acknowledgement: the PUBACK for a QoS 1 message is sent only when the
platform calls the ``ack`` handed out with it, i.e. after the durable commit (reliability G1).

Why these settings:
- MQTT 5, fixed client id, ``clean_start=False`` and a session expiry: the broker keeps our subscription and every
  unacknowledged message while we are down, and redelivers them when we return (D-01). Storage is idempotent, so
  redelivery is harmless (G2).
- ``ReceiveMaximum`` bounds the messages in flight to us, which bounds our memory (G4): the broker stops sending
  when that many are unacknowledged.
- ``$share/<group>/<filter>`` (MQTT 5 shared subscriptions) lets several platform processes split one stream.
- paho's own reconnect loop with a capped backoff (``reconnect_delay_set``).
- An ack from a previous connection is never sent on a new one: the broker redelivers those messages anyway, and
  a packet id could by then name a different message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

Ack = Callable[[], None]
MessageHandler = Callable[[str, bytes, Ack], None]


@dataclass
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "tvilling-ingest"
    topics: Sequence[str] = ("plant/+/telemetry",)
    qos: int = 1
    shared_group: str | None = None
    clean_start: bool = False
    session_expiry_s: int = 7 * 86_400
    receive_maximum: int = 1000
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in repr/logs
    backoff_min_s: int = 1
    backoff_max_s: int = 30
    # 5 (default: shared subscriptions, session expiry) or 4 = 3.1.1 for brokers that only speak it (amqtt).
    protocol: int = 5

    def filters(self) -> list[str]:
        if self.shared_group:
            return [f"$share/{self.shared_group}/{t}" for t in self.topics]
        return list(self.topics)


def parse_broker_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` -> (host, port)."""
    rest = url.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, 1883
    return host, int(port)


class MqttSource:
    """A subscriber that hands each message to ``handler(topic, payload, ack)`` on paho's network thread."""

    def __init__(self, settings: MqttSettings, handler: MessageHandler) -> None:
        self.settings = settings
        self._handler = handler
        self._generation = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.disconnects = 0
        self.received = 0
        self.misdelivered = 0
        self._v5 = settings.protocol == 5
        version = MQTTProtocolVersion.MQTTv5 if self._v5 else MQTTProtocolVersion.MQTTv311
        # 3.1.1 has no clean_start: a persistent session is clean_session=False.
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=version,
                        manual_ack=True, clean_session=None if self._v5 else settings.clean_start)
        if settings.username is not None:
            c.username_pw_set(settings.username, settings.password)
        c.reconnect_delay_set(settings.backoff_min_s, settings.backoff_max_s)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self._client = c

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        s = self.settings
        if not self._v5:
            self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
            self._client.loop_start()
            return
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.session_expiry_s
        props.ReceiveMaximum = s.receive_maximum
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s, clean_start=s.clean_start,
                                   properties=props)
        self._client.loop_start()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho callbacks (network thread) --------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connect refused: %s", reason)
            return
        with self._lock:
            self._generation += 1
        self._connected.set()
        client.subscribe([(f, self.settings.qos) for f in self.settings.filters()])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("MQTT subscription refused: %s", reasons)
            return
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self.disconnects += 1
        log.info("MQTT disconnected (%s); paho reconnects with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        gen, mid, qos = self._generation, msg.mid, msg.qos
        if msg.retain and not any(mqtt.topic_matches_sub(f, msg.topic) for f in self.settings.topics):
            # Seen with amqtt: retained messages of other topics sent on SUBSCRIBE. Not addressed to us, so not
            # device data to assess; acked so the broker stops resending, and logged (only retained ones are
            # checked: the match costs more than the rest of this callback).
            self.misdelivered += 1
            log.warning("broker sent retained %r, which matches none of our subscriptions; ignored", msg.topic)
            if qos:
                self._client.ack(mid, qos)
            return

        def ack() -> None:
            if qos == 0 or gen != self._generation:
                return
            self._client.ack(mid, qos)

        try:
            self._handler(msg.topic, bytes(msg.payload), ack)
        except Exception:  # a handler bug must not kill the network thread; no ack -> redelivered later
            log.exception("MQTT message handler failed on %s", msg.topic)
