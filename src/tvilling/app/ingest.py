"""The async ingest pipeline: decode -> map -> quality -> group commit -> ack -> twin state -> events.

Every source (MQTT, HTTP, Sparkplug, OPC UA, replay) hands :class:`Envelope` objects to one queue. A single
worker takes whatever has queued up (up to ``max_batch`` envelopes, waiting at most ``max_delay_s`` for more),
assesses it with the pure quality engine, writes it in ONE transaction (samples + rollups + quarantine + twin
state) and only then acknowledges every envelope of the batch (MQTT PUBACK, HTTP 2xx): an ack means durable (G1).
While one batch commits the next one accumulates and is assessed as it arrives, so the fsync cost is shared
(group commit).

A failed commit acknowledges nothing: MQTT envelopes are retried with capped backoff (the broker keeps them
in flight), HTTP callers are told at once (503) and may retry with the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tvilling.adapters.sql.timeseries import BatchResult, TimeSeriesStore
from tvilling.app.ingest_rows import Envelope, HttpReading, Rows, build_rows
from tvilling.core.errors import UnavailableError
from tvilling.ports.clock import Clock, SystemClock
from tvilling.quality.mapping import MappingSet
from tvilling.quality.rules import QualityEngine

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUILD_INLINE_MAX = 64  # envelopes; smaller parts of a batch are assessed on the event loop itself


@dataclass
class Committed:
    """What one commit covered; handed to ``on_commit`` hooks (event publishing, benchmarks)."""

    envelopes: Sequence[Envelope]
    rows: Rows
    result: BatchResult
    committed_mono: float


CommitHook = Callable[[Committed], Awaitable[None] | None]


@dataclass
class IngestStats:
    batches: int = 0
    envelopes: int = 0
    points: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    commit_failures: int = 0
    last_batch_size: int = 0


@dataclass
class IngestPipeline:
    store: TimeSeriesStore
    mappings: MappingSet
    clock: Clock = field(default_factory=SystemClock)
    engine: QualityEngine = field(default_factory=QualityEngine)
    max_batch: int = 2000
    max_delay_s: float = 0.002
    queue_size: int = 50_000
    stale_interval_s: float = 1.0
    retry_max_s: float = 2.0
    on_commit: list[CommitHook] = field(default_factory=list)
    stats: IngestStats = field(default_factory=IngestStats)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue(self.queue_size)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_stale = self.clock.monotonic()
        self._last_committed: Committed | None = None

    # -- feeding --------------------------------------------------------------------------------------------
    def now_us(self) -> int:
        if type(self.clock) is SystemClock:  # per message: the wall clock without building a datetime
            return time.time_ns() // 1000
        dt = self.clock.now()
        delta = dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    async def submit(self, env: Envelope) -> None:
        await self._queue.put(env)

    def submit_nowait(self, env: Envelope) -> None:
        """From the event loop thread; raises ``asyncio.QueueFull`` when saturated (callers shed load)."""
        self._queue.put_nowait(env)

    async def ingest_http(self, readings: Sequence[HttpReading], *, tenant: str | None = None,
                          address: str = "http") -> Committed:
        """Submit twin-addressed readings and wait until they are committed (then the caller may answer 2xx)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Committed] = loop.create_future()

        def done(exc: BaseException | None) -> None:
            if not fut.done():
                if exc is None:
                    assert self._last_committed is not None  # set just before on_done is called
                    fut.set_result(self._last_committed)
                else:
                    fut.set_exception(UnavailableError(f"history store unavailable: {exc}"))

        env = Envelope(source="http", address=address, received_at_us=self.now_us(), readings=tuple(readings),
                       tenant=tenant, on_done=done)
        try:
            self._queue.put_nowait(env)
        except asyncio.QueueFull as exc:
            raise UnavailableError("ingest queue full", hint="retry later") from exc
        return await fut

    def reload(self, mappings: MappingSet) -> None:
        """Swap the mappings; per-point quality state is kept (it is keyed by twin and name)."""
        self.mappings = mappings

    # -- running --------------------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="ingest-pipeline")
        return self._task

    async def stop(self, drain: bool = True) -> None:
        self._stopping = True
        if self._task is not None:
            if not drain:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def queued(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Two stages: while batch N commits (SQLite releases the GIL while it writes), batch N+1 is assessed.
        Commits stay strictly ordered and one at a time, so acks keep arrival order."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Task[None] | None = None
        idle = min(max(self.stale_interval_s, 0.01), 0.2)
        try:
            while not (self._stopping and self._queue.empty()):
                try:
                    first = await asyncio.wait_for(self._queue.get(), timeout=idle)
                except TimeoutError:
                    if pending is not None:
                        await pending
                        pending = None
                    await self._maybe_stale()
                    continue
                batch = await self._collect(first, loop)
                rows = Rows()
                await self._build(batch, rows)
                if pending is not None:
                    await self._grow_while(pending, batch, rows)
                    await pending
                rows.publish_metrics()
                pending = asyncio.create_task(self._commit(batch, rows))
                if self.clock.monotonic() - self._last_stale >= self.stale_interval_s:
                    await pending  # staleness marks are written between commits, never beside one
                    pending = None
                    await self._maybe_stale()
        finally:
            if pending is not None:
                await pending

    async def _collect(self, first: Envelope, loop: asyncio.AbstractEventLoop) -> list[Envelope]:
        batch = [first]
        deadline = loop.time() + self.max_delay_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopping:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _build(self, part: list[Envelope], rows: Rows) -> None:
        # A large part is assessed on a worker thread (the event loop stays responsive); a small one inline, where
        # the hand-off to a thread would cost more than the work (~50 µs against ~20 µs per message).
        if len(part) >= BUILD_INLINE_MAX:
            await asyncio.to_thread(build_rows, part, self.mappings, self.engine, rows)
        else:
            build_rows(part, self.mappings, self.engine, rows)

    async def _grow_while(self, pending: asyncio.Task[None], batch: list[Envelope], rows: Rows) -> None:
        """Group commit: while the previous batch is still committing, whatever arrives joins this batch and is
        assessed at once. The next commit then starts the moment the previous one ends and covers everything
        that waited for it: under load batches grow (a commit's cost per message falls with its size), and a
        message that arrives mid-commit waits for one commit, not two."""
        queue = self._queue
        while not pending.done() and len(batch) < self.max_batch:
            room = self.max_batch - len(batch)
            more: list[Envelope] = []
            while len(more) < room and not queue.empty():
                more.append(queue.get_nowait())
            if more:
                await self._build(more, rows)
                batch.extend(more)
            else:
                await asyncio.wait((pending,), timeout=self.max_delay_s)

    async def _commit(self, batch: list[Envelope], rows: Rows) -> None:
        delay = 0.05
        attempts = 0
        failed_http = False
        while True:
            try:
                result = await asyncio.to_thread(self.store.write_series, rows.series, rows.quarantine,
                                                 rows.latest, self.now_us())
                break
            except Exception as exc:  # any store failure: nothing is acked; retry (G1, D-03)
                self.stats.commit_failures += 1
                log.warning("ingest commit failed (%s); retrying in %.2f s", exc, delay)
                if not failed_http:
                    failed_http = True
                    for env in batch:
                        if env.on_done is not None:
                            env.on_done(exc)
                attempts += 1
                if self._stopping and attempts >= 3:
                    return  # shutting down with the store failing: leave it unacked, the broker redelivers
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
        committed = Committed(batch, rows, result, self.clock.monotonic())
        self._last_committed = committed
        for env in batch:  # acks strictly after COMMIT
            if env.ack is not None:
                try:
                    env.ack()
                except Exception:  # an ack that cannot be sent is redelivered by the broker: harmless
                    log.exception("ack failed")
            if env.on_done is not None and not failed_http:
                env.on_done(None)
        s = self.stats
        s.batches += 1
        s.envelopes += len(batch)
        s.points += rows.points
        s.inserted += result.inserted
        s.duplicates += result.duplicates
        s.conflicts += result.conflicts
        s.quarantined += result.quarantined
        s.last_batch_size = len(batch)
        await self._notify(committed)

    async def _notify(self, committed: Committed) -> None:
        for hook in self.on_commit:
            try:
                out = hook(committed)
                if out is not None:
                    await out
            except Exception:  # a broken subscriber must not stop ingestion
                log.exception("on_commit hook failed")

    async def _maybe_stale(self) -> None:
        mono = self.clock.monotonic()
        if mono - self._last_stale < self.stale_interval_s:
            return
        self._last_stale = mono
        now_us = self.now_us()
        newly = self.engine.stale_points(self.mappings, now_us)
        if not newly:
            return
        try:
            result = await asyncio.to_thread(self.store.mark_quality, self.mappings.tenant,
                                             [(s.twin_id, s.name) for s in newly], "bad", "stale", now_us)
        except Exception as exc:
            log.warning("could not mark %d stale points: %s", len(newly), exc)
            return
        await self._notify(Committed((), Rows(), result, self.clock.monotonic()))
