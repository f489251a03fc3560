"""The in-process event bus: committed changes fan out to WebSocket clients and in-process services.

Contract (for every publisher, e.g. ``app.ingest``): append the ``Event`` rows in the same transaction as the
change, and call ``bus.publish(events)`` only AFTER the commit, so no subscriber ever sees a change that was
rolled back. ``publish`` is thread-safe and never blocks: the store runs in worker threads, subscribers live on
the event loop. A subscriber that falls ``max_queue`` events behind is closed (it must reconnect and re-read
state) instead of growing memory without bound (promise G4).

Two ways to consume:
- ``subscribe(tenant, subjects=…, kinds=…)`` -> ``Subscription``, an async iterator on the loop that called it;
- ``listen(callback)`` -> a synchronous callback run in the publisher's thread (keep it quick; exceptions are
  logged and swallowed so one bad listener cannot break publication).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tvilling.core.events import Event

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, bus: EventBus, tenant: str, subjects: frozenset[str] | None, kinds: frozenset[str] | None,
                 max_queue: int) -> None:
        self.tenant = tenant
        self.subjects = subjects
        self.kinds = kinds
        self.overflowed = False
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=max_queue)
        self._closed = False

    def matches(self, event: Event) -> bool:
        if event.tenant != self.tenant:
            return False
        if self.subjects is not None and event.subject not in self.subjects:
            return False
        return self.kinds is None or any(event.kind == k or event.kind.startswith(k + ".") for k in self.kinds)

    def _offer(self, event: Event) -> None:  # runs on the subscriber's loop
        if self._closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self._close_now()

    def _close_now(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._remove(self)
        while True:  # make room for the end marker
            try:
                self._queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                self._queue.get_nowait()

    def deliver(self, event: Event) -> None:
        if self._loop.is_closed():
            self._bus._remove(self)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._offer(event)
        else:
            self._loop.call_soon_threadsafe(self._offer, event)

    def close(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._close_now()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._close_now)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed (or overflowed)."""
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event


class EventBus:
    def __init__(self, max_queue: int = 1000) -> None:
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, tenant: str, *, subjects: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                  max_queue: int | None = None) -> Subscription:
        sub = Subscription(self, tenant, frozenset(subjects) if subjects is not None else None,
                           frozenset(kinds) if kinds is not None else None, max_queue or self.max_queue)
        with self._lock:
            self._subscriptions.add(sub)
        return sub

    def listen(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Register a synchronous listener; returns a function that removes it."""
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._lock:
            subs = list(self._subscriptions)
            listeners = list(self._listeners)
        for event in events:
            for sub in subs:
                if sub.matches(event):
                    sub.deliver(event)
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # one faulty listener must not break publication for the others
                    log.exception("event listener %r failed on %s", listener, event.kind)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(sub)


class BusConsumer(Protocol):
    """A background service fed by the bus: subscribes on attach, works in run, finishes queued work in drain."""

    def attach(self) -> None: ...
    async def run(self) -> None: ...
    def detach(self) -> None: ...
    async def drain(self) -> None: ...


@dataclass
class ConsumerStats:
    """What a :class:`QueuedConsumer` counts (the services' ``/metrics``-style state)."""

    received: int = 0
    dropped: int = 0  # queue full: not processed (ingestion is never slowed down)
    processed: int = 0
    insights: int = 0
    failures: int = 0


class QueuedConsumer:
    """What the live services fed by telemetry share (monitoring, physics coupling): the bus listener only hands a
    wanted event to the event loop, into a bounded queue (a full queue drops it and counts it, so a slow service
    never holds back ingestion); ``run`` processes batches in ONE worker thread at a time, so the service's
    per-twin state needs no locks. A subclass sets ``actor`` (its own events are skipped), defines ``wants`` and
    ``process``, and calls ``_init_queue`` when it is built; ``stats`` counts ``received``, ``dropped`` and
    ``failures``."""

    actor = ""
    services: Any
    stats: ConsumerStats
    queue_size: int
    max_batch: int

    def _init_queue(self) -> None:
        self._queue: asyncio.Queue[Event] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._remove: Callable[[], None] | None = None

    def wants(self, event: Event) -> bool:
        raise NotImplementedError

    def process(self, events: Sequence[Event]) -> list[Event]:
        raise NotImplementedError

    def attach(self) -> None:
        """Start listening (call on the event loop that will run :meth:`run`)."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.queue_size)
        self._remove = self.services.bus.listen(self._on_event)

    def detach(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _on_event(self, event: Event) -> None:  # the publisher's thread: keep it cheap
        if event.actor == self.actor or not self.wants(event):
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._enqueue, event)

    def _enqueue(self, event: Event) -> None:
        assert self._queue is not None
        self.stats.received += 1
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.dropped += 1

    async def run(self) -> None:
        """Process queued events until cancelled."""
        assert self._queue is not None, "attach() first"
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self.process, batch)
            except Exception:  # a store outage loses this batch's results, never the service
                self.stats.failures += 1
                log.exception("%s: a batch of %d events failed", self.actor, len(batch))

    async def drain(self) -> None:
        """Process whatever is queued now (tests, shutdown)."""
        assert self._queue is not None
        batch: list[Event] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await asyncio.to_thread(self.process, batch)


async def run_attached(service: BusConsumer) -> None:
    """Run a bus consumer until cancelled. What was committed just before shutdown is still processed: the store is
    closed only after the background tasks have finished, and the drain is shielded from the cancellation."""
    service.attach()
    try:
        await service.run()
    finally:
        service.detach()
        with contextlib.suppress(Exception):
            await asyncio.shield(service.drain())
