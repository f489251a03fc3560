"""Bus events to a worker thread, off the publisher's thread: a bounded queue on the event loop.

A bus listener runs in the publisher's thread (ingestion's commit hook, a request handler); heavy work there
would slow ingestion down. ``WorkerQueue.offer`` hands the event to the loop (``call_soon_threadsafe``); ``run``
takes whatever has queued up and processes it in ONE worker thread at a time, so the consumer needs no locks
against itself. A full queue drops the event and counts it: the producer is never slowed down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from tvilling.core.events import Event

log = logging.getLogger(__name__)


class WorkerQueue:
    def __init__(self, process: Callable[[Sequence[Event]], object], *, size: int = 50_000,
                 max_batch: int = 1000, name: str = "worker") -> None:
        self._process = process
        self._size = size
        self._max_batch = max_batch
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Event] | None = None
        self.dropped = 0
        self.failures = 0
        self.offered = 0  # accepted by offer() ...
        self.finished = 0  # ... and processed (or failed): with ``dropped``, what ``idle`` compares

    def attach(self) -> None:
        """Start accepting events (call on the loop that will run :meth:`run`)."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self._size)

    def detach(self) -> None:
        self._loop = None

    def offer(self, event: Event) -> bool:
        """From any thread. False when not attached (the caller then decides what to do)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        self.offered += 1
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put(event)  # ingestion publishes on the loop: no thread hop, no self-pipe wake-up per event
        else:
            loop.call_soon_threadsafe(self._put, event)
        return True

    def _put(self, event: Event) -> None:
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        assert self._queue is not None, "attach() first"
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self._process, batch)
            except Exception:  # a store outage loses this batch's work, never the service
                self.failures += 1
                log.exception("%s: processing %d events failed", self._name, len(batch))
            self.finished += len(batch)

    @property
    def attached(self) -> bool:
        return self._loop is not None

    @property
    def idle(self) -> bool:
        """Everything offered so far has been processed or dropped (tests wait on it)."""
        return self.offered <= self.finished + self.dropped

    async def drain(self) -> None:
        """Process whatever is queued now (tests, shutdown)."""
        if self._queue is None:
            return
        batch: list[Event] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await asyncio.to_thread(self._process, batch)
            self.finished += len(batch)


class QueuedBusConsumer:
    """A service that follows the event bus through a :class:`WorkerQueue` (alarms, work orders).

    Subclasses set ``_bus``, ``worker`` and ``_remove = None`` and implement ``_on_event`` (publisher's thread:
    offer the event to the worker, or process it right there when the worker is not attached).
    """

    _bus: Any
    worker: WorkerQueue
    _remove: Callable[[], None] | None

    def _on_event(self, event: Event) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Follow the bus (idempotent)."""
        if self._remove is None:
            self._remove = self._bus.listen(self._on_event)

    def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def attach(self) -> None:
        """Process in a worker thread from now on (call on the loop that runs :meth:`run`)."""
        self.worker.attach()
        self.start()

    def detach(self) -> None:
        """Back to processing in the publisher's thread (what is committed during shutdown is still seen)."""
        self.worker.detach()

    async def run(self) -> None:
        await self.worker.run()

    async def drain(self) -> None:
        await self.worker.drain()
