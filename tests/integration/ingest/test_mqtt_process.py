"""The child-process MQTT receiver against a real Mosquitto: order, ack-only-when-told, redelivery of the rest."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import start_mosquitto, stop_mosquitto
from tvilling.adapters.mqtt import Ack, MqttSettings
from tvilling.adapters.mqtt_process import RESTARTS, MqttProcessSource

pytestmark = pytest.mark.mosquitto


def _publish(port: int, n: int, first: int = 0) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="proc-test-pub")
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish("plant/d1/telemetry", str(i).encode(), qos=1) for i in range(first, first + n)]
    for info in infos:
        info.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def _restarts() -> float:
    return next(s.value for m in RESTARTS.collect() for s in m.samples if s.name.endswith("_total"))


class _Collector:
    def __init__(self, ack_while: int) -> None:
        self.got: list[int] = []
        self.acks: list[Ack] = []
        self.ack_while = ack_while  # ack only payloads below this
        self.cond = threading.Condition()

    def __call__(self, topic: str, payload: bytes, ack: Ack) -> None:
        value = int(payload)
        with self.cond:
            self.got.append(value)
            if value < self.ack_while:
                ack()
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 20.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.got) >= n, timeout), f"only {len(self.got)} of {n}"


def test_process_receiver_keeps_order_and_unacked_messages_come_back(tmp_path: Path) -> None:
    port, broker = start_mosquitto(tmp_path)
    settings = MqttSettings(port=port, client_id="proc-test", topics=("plant/+/telemetry",),
                            receive_maximum=1000)
    try:
        first = _Collector(ack_while=150)
        src = MqttProcessSource(settings, first)
        src.start()
        assert src.wait_subscribed(20)
        _publish(port, 200)
        first.wait_for(200)
        time.sleep(0.5)  # let the acks cross the pipe and reach the broker
        src.stop()
        assert first.got == list(range(200))  # arrival order survives the batching across the pipe
        assert src.received == 200

        second = _Collector(ack_while=10**9)
        src2 = MqttProcessSource(settings, second)  # same client id: the persistent session
        src2.start()
        assert src2.wait_subscribed(20)
        second.wait_for(50)
        time.sleep(0.5)
        src2.stop()
        assert sorted(set(second.got)) == list(range(150, 200))  # exactly the unacknowledged ones came back
    finally:
        stop_mosquitto(broker)


def test_a_dead_receiver_is_replaced_and_its_unacked_messages_are_redelivered(tmp_path: Path) -> None:
    port, broker = start_mosquitto(tmp_path)
    settings = MqttSettings(port=port, client_id="proc-test-crash", topics=("plant/+/telemetry",),
                            backoff_min_s=1, backoff_max_s=1)
    try:
        restarts_before = _restarts()
        never = _Collector(ack_while=0)
        src = MqttProcessSource(settings, never, restart_max_s=1.0)
        src.start()
        assert src.wait_subscribed(20)
        _publish(port, 50)
        never.wait_for(50)
        assert src._proc is not None
        src._proc.kill()  # the receiver dies with 50 unacknowledged messages
        never.wait_for(100, timeout=30)
        src.stop()
        assert src.disconnects == 1
        assert _restarts() == restarts_before + 1  # visible in /metrics as tvilling_mqtt_receiver_restarts_total
        assert sorted(never.got[50:100]) == list(range(50))
    finally:
        stop_mosquitto(broker)


def test_connected_follows_the_broker_connection_in_the_child(tmp_path: Path) -> None:
    port, broker = start_mosquitto(tmp_path)
    src = MqttProcessSource(MqttSettings(port=port, client_id="proc-test-health"), _Collector(ack_while=0))
    try:
        src.start()
        assert src.wait_subscribed(20) and src.connected
        stop_mosquitto(broker)
        deadline = time.monotonic() + 10
        while src.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not src.connected  # health shows the broker is gone although the child lives
    finally:
        src.stop()
        stop_mosquitto(broker)
