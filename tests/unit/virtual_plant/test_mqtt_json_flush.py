"""The plant's MQTT endpoint flushes its whole backlog before disconnecting (the demo's missing samples).

In accelerated time the plant can queue far more than a slow broker takes in; ``close()`` used to wait 10 s for
its last message and then disconnect, which dropped the rest of the queue. A fake paho client that completes
publishes slowly stands in for the slow broker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tvilling.virtual_plant.mqtt_json import MqttJsonEndpoint


class SlowClient:
    """Completes one queued publish every ``every_s`` (calls the endpoint's on_publish), up to ``limit``."""

    def __init__(self, on_publish: Any, every_s: float, limit: int | None = None) -> None:
        self.on_publish, self.every_s, self.limit = on_publish, every_s, limit
        self.queued = 0
        self.completed = 0
        self.disconnected_with_queue: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            if self.completed < self.queued and (self.limit is None or self.completed < self.limit):
                self.completed += 1
                self.on_publish(self, None, self.completed, None, None)

    def publish(self, *_a: Any, **_k: Any) -> Any:
        self.queued += 1

        class Info:
            def wait_for_publish(self, _timeout: float) -> None:
                return None

        return Info()

    def disconnect(self) -> None:
        self.disconnected_with_queue = self.queued - self.completed

    def loop_stop(self) -> None:
        self._stop.set()
        self._thread.join(1)


def _endpoint(every_s: float, limit: int | None = None) -> tuple[MqttJsonEndpoint, SlowClient]:
    ep = MqttJsonEndpoint("mqtt://127.0.0.1:1")  # never connects: the client is replaced below
    fake = SlowClient(ep._on_publish, every_s, limit)
    ep.client = fake  # type: ignore[assignment]
    return ep, fake


def test_close_waits_for_the_whole_backlog_while_it_drains() -> None:
    ep, fake = _endpoint(every_s=0.01)
    for i in range(60):
        ep.publish_readings("pump-1", i, "2026-01-01T00:00:00Z", [])
    t0 = time.monotonic()
    ep.close(timeout_s=0.2)  # the backlog takes ~0.6 s: longer than the timeout, but it keeps moving
    assert time.monotonic() - t0 >= 0.4
    assert fake.disconnected_with_queue == 0
    assert ep.unfinished() == 0


def test_close_gives_up_when_the_broker_stops_acknowledging() -> None:
    ep, fake = _endpoint(every_s=0.01, limit=5)
    for i in range(20):
        ep.publish_readings("pump-1", i, "2026-01-01T00:00:00Z", [])
    t0 = time.monotonic()
    ep.close(timeout_s=0.3)
    assert time.monotonic() - t0 < 3.0
    assert fake.disconnected_with_queue == 21 - 5  # 20 readings + the offline status; 5 went through
