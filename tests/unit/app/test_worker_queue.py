"""WorkerQueue: events from any thread reach one worker thread in batches; a full queue drops and counts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from tvilling.app.worker_queue import WorkerQueue
from tvilling.core.events import Event


def ev(i: int) -> Event:
    return Event(kind="twin.telemetry", tenant="t", subject=f"x{i}", time=datetime.now(UTC), context_id="c")


async def test_events_from_loop_and_threads_are_processed_off_the_loop() -> None:
    seen: list[str] = []
    threads: set[int] = set()

    def process(batch: Sequence[Event]) -> None:
        threads.add(threading.get_ident())
        seen.extend(e.subject for e in batch)

    q = WorkerQueue(process, size=100)
    assert q.offer(ev(0)) is False  # not attached: the caller handles it
    q.attach()
    assert q.offer(ev(1))
    other = threading.Thread(target=lambda: q.offer(ev(2)))
    other.start()
    other.join()
    runner = asyncio.create_task(q.run())
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    runner.cancel()
    assert sorted(seen) == ["x1", "x2"] and threading.get_ident() not in threads


async def test_full_queue_drops_and_counts() -> None:
    q = WorkerQueue(lambda batch: None, size=2)
    q.attach()
    for i in range(5):
        q.offer(ev(i))
    assert q.dropped == 3
    await q.drain()
