"""The in-process event bus: tenant/subject/kind filtering, thread-safe publication, bounded queues."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from tvilling.app.events import EventBus
from tvilling.core.events import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(subject: str, tenant: str = "a", kind: str = "twin.updated") -> Event:
    return Event(kind=kind, tenant=tenant, subject=subject, time=T0, context_id="c" * 32)


async def test_filters_by_tenant_subject_and_kind() -> None:
    bus = EventBus()
    everything = bus.subscribe("a")
    one_twin = bus.subscribe("a", subjects=["t1"])
    rels = bus.subscribe("a", kinds=["relationship"])
    bus.publish([ev("t1"), ev("t2"), ev("t1", tenant="b"), ev("t1", kind="relationship.created")])
    await asyncio.sleep(0)
    got_all = [everything.get() for _ in range(3)]
    assert [(e.subject, e.kind) for e in await asyncio.gather(*got_all)] == [
        ("t1", "twin.updated"), ("t2", "twin.updated"), ("t1", "relationship.created")]
    assert [e.kind for e in await asyncio.gather(one_twin.get(), one_twin.get())] == [
        "twin.updated", "relationship.created"]
    assert (await rels.get()).kind == "relationship.created"  # type: ignore[union-attr]
    assert rels._queue.empty() and one_twin._queue.empty()


async def test_publish_from_a_worker_thread() -> None:
    bus = EventBus()
    sub = bus.subscribe("a")
    worker = threading.Thread(target=lambda: bus.publish([ev("from-thread")]))
    worker.start()
    got = await asyncio.wait_for(sub.get(), timeout=5)
    worker.join()
    assert got is not None and got.subject == "from-thread"


async def test_slow_subscriber_is_closed_not_buffered_forever() -> None:
    bus = EventBus(max_queue=3)
    slow = bus.subscribe("a")
    bus.publish([ev(f"t{i}") for i in range(10)])
    received = [e async for e in slow]
    assert slow.overflowed and len(received) < 10
    assert bus.subscriber_count == 0


async def test_listeners_run_and_a_failing_one_does_not_break_others() -> None:
    bus = EventBus()
    seen: list[str] = []

    def bad(_e: Event) -> None:
        raise RuntimeError("boom")

    bus.listen(bad)
    remove = bus.listen(lambda e: seen.append(e.subject))
    bus.publish([ev("x")])
    remove()
    bus.publish([ev("y")])
    assert seen == ["x"]


async def test_closed_subscription_ends_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe("a")
    sub.close()
    assert [e async for e in sub] == []
    bus.publish([ev("after")])  # no error, nobody listening
    assert bus.subscriber_count == 0
