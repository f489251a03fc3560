"""Group commit for API writes: concurrent twin and relationship writes share one transaction and one fsync.

A durable COMMIT costs one fsync (milliseconds on SQLite, about as much on PostgreSQL) while the work of one write is
a fraction of that, so one commit per request caps writes at the disk's fsync rate. Here every write is a two-step
``WriteOp``:

- ``prepare()`` checks the request without touching the database (body shape, model validation) and returns
- ``apply(tx)``, which reads, checks preconditions (ETag/If-Match), writes and returns ``(result, events)``.

Writes that arrive while a batch is committing (or within ``window_s`` of an idle start) form the next batch. A
batch runs in one worker thread: every ``prepare`` first (outside the transaction, so the write lock is held only
for the writes), then ONE transaction in which each ``apply`` runs inside its own SAVEPOINT, so a failing item rolls
back only its own changes and gets its own error while its neighbours commit. Only after COMMIT returns is any
caller answered and any event published (2xx only after commit, promise G1). Items run in arrival order in one
transaction, so a later item sees an earlier one's effects: ETag checks behave exactly as if run one by one.

If the batch itself fails (commit error, lost connection, a PostgreSQL deadlock with a writer outside the batch),
nothing was committed and every item is re-run alone in its own transaction, so each caller gets the error its own
write would have got.

The same ops run one at a time with ``run_now`` (CLI in-process, ingestion, tests): one code path for both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from tvilling.core.errors import UnavailableError
from tvilling.core.events import Event
from tvilling.ports.store import EventSink, Store, Transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

Apply = Callable[[Transaction], tuple[T, Sequence[Event]]]


class SavepointTransaction(Transaction, Protocol):
    def savepoint(self) -> AbstractContextManager[None]: ...


class BatchStore(Protocol):
    """What group commit needs beyond the store port: savepoints inside a write transaction."""

    def write(self) -> AbstractContextManager[SavepointTransaction]: ...


@dataclass(frozen=True)
class WriteOp(Generic[T]):
    """``prepare`` validates without the database and returns the transactional step."""

    prepare: Callable[[], Apply[T]]


def run_now(store: Store, bus: EventSink, op: WriteOp[T]) -> T:
    """Run one op in its own transaction; publish its events after COMMIT."""
    apply = op.prepare()
    with store.write() as tx:
        result, events = apply(tx)
    bus.publish(events)
    return result


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    events: Sequence[Event] = ()


@dataclass
class _Queue:
    pending: list[tuple[WriteOp[Any], asyncio.Future[Any]]] = field(default_factory=list)
    # Held so a drainer cannot be garbage-collected mid-batch.
    drainers: set[asyncio.Task[None]] = field(default_factory=set)


@dataclass
class GroupStats:
    batches: int = 0
    items: int = 0
    fallbacks: int = 0  # batches that failed as a whole and were re-run item by item
    largest: int = 0


class GroupCommitter:
    """Batches ``WriteOp``s submitted from coroutines; up to ``parallel`` drainers per event loop, started on
    demand and gone when the queue is empty."""

    def __init__(self, store: BatchStore, bus: EventSink, *, window_s: float = 0.001, max_batch: int = 256,
                 parallel: int = 1) -> None:
        self._store = store
        self._bus = bus
        self._window_s = window_s
        self._max_batch = max_batch
        # Batches in flight at once. 1 for SQLite (one writer at a time anyway). More for PostgreSQL, where a batch
        # is bound by statement round trips, not CPU or fsync: concurrent batches overlap their waits, as the
        # one-transaction-per-request path did (row locks keep conflicting writes in order).
        self._parallel = max(1, parallel)
        self._queues: dict[asyncio.AbstractEventLoop, _Queue] = {}
        self.stats = GroupStats()

    async def submit(self, op: WriteOp[T]) -> T:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        fut: asyncio.Future[T] = loop.create_future()
        queue.pending.append((op, fut))
        if len(queue.drainers) < self._parallel:
            queue.drainers.add(loop.create_task(self._drain(loop, queue), name="group-commit"))
        return await fut

    async def _drain(self, loop: asyncio.AbstractEventLoop, queue: _Queue) -> None:
        batch: list[tuple[WriteOp[Any], asyncio.Future[Any]]] = []
        try:
            while queue.pending:
                if self._window_s > 0 and len(queue.pending) < self._max_batch:
                    await asyncio.sleep(self._window_s)  # let concurrent requests join this batch
                batch = queue.pending[: self._max_batch]
                del queue.pending[: len(batch)]
                if not batch:  # a parallel drainer took them during the window
                    break
                outcomes = await loop.run_in_executor(None, self._run_batch, [op for op, _ in batch])
                for (_, fut), outcome in zip(batch, outcomes, strict=True):
                    if fut.done():  # the caller went away; its write is committed all the same
                        continue
                    if outcome.error is not None:
                        fut.set_exception(outcome.error)
                    else:
                        fut.set_result(outcome.value)
                batch = []
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
            last = len(queue.drainers) <= 1  # the last drainer also answers what is still queued
            for _, fut in [*batch, *(queue.pending if last else [])]:
                if not fut.done():
                    fut.set_exception(UnavailableError("the server is shutting down", hint="retry"))
            if last:
                queue.pending.clear()
            if not isinstance(exc, Exception):
                raise
            log.exception("group commit drainer failed")
        finally:
            task = asyncio.current_task()
            if task is not None:
                queue.drainers.discard(task)
            if not queue.drainers and not queue.pending:
                self._queues.pop(loop, None)

    def _run_batch(self, ops: Sequence[WriteOp[Any]]) -> list[_Outcome]:
        """Worker thread: prepare all, apply all in one transaction (a savepoint each), commit once, publish."""
        outcomes = [_Outcome() for _ in ops]
        applies: list[tuple[int, Apply[Any]]] = []
        for i, op in enumerate(ops):
            try:
                applies.append((i, op.prepare()))
            except Exception as exc:  # the request's own fault: refused before any database work
                outcomes[i].error = exc
        if applies:
            try:
                self._apply_together(applies, outcomes)
            except Exception as exc:
                self.stats.fallbacks += 1
                log.info("group commit of %d writes failed (%s); retrying them one by one", len(applies), exc)
                for i, apply in applies:
                    outcomes[i] = self._apply_alone(apply)
        self.stats.batches += 1
        self.stats.items += len(ops)
        self.stats.largest = max(self.stats.largest, len(ops))
        for outcome in outcomes:
            if outcome.error is None and outcome.events:
                self._bus.publish(outcome.events)
        return outcomes

    def _apply_together(self, applies: list[tuple[int, Apply[Any]]], outcomes: list[_Outcome]) -> None:
        done: dict[int, _Outcome] = {}
        with self._store.write() as tx:
            for i, apply in applies:
                try:
                    with tx.savepoint():
                        value, events = apply(tx)
                    done[i] = _Outcome(value=value, events=events)
                except UnavailableError:
                    raise  # the connection or transaction is gone: the whole batch is retried item by item
                except Exception as exc:  # rolled back to its savepoint; the neighbours carry on
                    done[i] = _Outcome(error=exc)
        for i, outcome in done.items():  # only now: nothing counts as done before COMMIT returned
            outcomes[i] = outcome

    def _apply_alone(self, apply: Apply[Any]) -> _Outcome:
        try:
            with self._store.write() as tx:
                value, events = apply(tx)
            return _Outcome(value=value, events=events)
        except Exception as exc:
            return _Outcome(error=exc)
