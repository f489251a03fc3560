"""Background service: MQTT source -> ingest pipeline, with acks after commit."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Literal

from tvilling.adapters.mqtt import Ack, MqttSettings, MqttSource
from tvilling.adapters.mqtt_process import MqttProcessSource
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_rows import Envelope
from tvilling.app.runtime import GC_THRESHOLDS

log = logging.getLogger(__name__)


Receiver = Literal["thread", "process"]


class MqttIngestService:
    """``receiver="process"`` runs paho in a child process (``adapters.mqtt_process``): the MQTT client's own CPU
    cost moves to another core; ``"thread"`` keeps it on a thread of this process (fewer moving parts)."""

    def __init__(self, pipeline: IngestPipeline, settings: MqttSettings, tenant: str | None = None,
                 receiver: Receiver = "thread") -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.tenant = tenant
        self.receiver = receiver
        self.source: MqttSource | MqttProcessSource | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: deque[Envelope] = deque()
        self._scheduled = False

    async def start(self, wait_subscribed_s: float = 0.0) -> None:
        self._loop = asyncio.get_running_loop()
        if self.receiver == "process":
            self.source = MqttProcessSource(self.settings, self._on_message, gc_thresholds=GC_THRESHOLDS)
        else:
            self.source = MqttSource(self.settings, self._on_message)
        self.source.start()
        if wait_subscribed_s > 0:
            ok = await asyncio.to_thread(self.source.wait_subscribed, wait_subscribed_s)
            if not ok:
                log.warning("MQTT not subscribed after %.1f s; still trying", wait_subscribed_s)

    async def stop(self) -> None:
        if self.source is not None:
            await asyncio.to_thread(self.source.stop)

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        # paho network thread: hand over to the event loop; the queue is bounded by the broker's ReceiveMaximum.
        # Messages go through a deque and the loop is woken once per burst, not once per message (each wake-up
        # is a self-pipe write plus a loop iteration). Append first, then check the flag: no wake-up is lost.
        # Positional (source, address, received_at_us, payload, readings, tenant, ack): built once per message.
        self._inbox.append(Envelope("mqtt", topic, self.pipeline.now_us(), payload, (), self.tenant, ack))
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        inbox = self._inbox
        while inbox:
            env = inbox.popleft()
            try:
                self.pipeline.submit_nowait(env)
            except asyncio.QueueFull:
                asyncio.ensure_future(self.pipeline.submit(env))  # noqa: RUF006 — the queue holds the reference
