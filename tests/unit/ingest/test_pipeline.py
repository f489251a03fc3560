"""The pipeline's promises with a fake store: ack only after commit (G1), nothing acked on failure, retry,
HTTP callers told at once, stale marking driven by an injected clock."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tvilling.adapters.sql.timeseries import BatchResult
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_rows import Envelope, HttpReading
from tvilling.core.errors import UnavailableError
from tvilling.quality.mapping import parse_mappings

MAPPING = parse_mappings({"topics": [{"topic": "d/t", "points": [
    {"pointer": "/points/v", "twin": "tw", "name": "v", "expected_period_s": 1.0, "stale_grace_s": 0.5}]}]})


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 1, 1, tzinfo=UTC)
        self.mono = 0.0

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, s: float) -> None:
        self.t += timedelta(seconds=s)
        self.mono += s


class FakeStore:
    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.log: list[str] = []
        self.samples = 0
        self.marked: list[Any] = []

    def write_series(self, series: Any, quarantine: Any, latest: Any, now_us: int) -> BatchResult:
        if self.fail:
            self.fail -= 1
            self.log.append("fail")
            raise OSError("disk on fire")
        n = sum(len(g) for g in series.values())
        self.log.append(f"commit:{n}")
        self.samples += n
        return BatchResult(inserted=n)

    def mark_quality(self, tenant: str, points: Any, quality: str, reason: str, now_us: int) -> BatchResult:
        self.marked.append((points, quality, reason))
        return BatchResult()


def env(store_log: list[str], i: int, clock: FakeClock) -> Envelope:
    payload = json.dumps({"source_ts": clock.now().isoformat(), "points": {"v": float(i)}}).encode()
    now_us = int((clock.now() - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    return Envelope("mqtt", "d/t", now_us, payload=payload, ack=lambda: store_log.append(f"ack:{i}"))


async def test_acks_follow_the_commit_and_failures_ack_nothing() -> None:
    clock, store = FakeClock(), FakeStore(fail=2)
    p = IngestPipeline(store, MAPPING, clock=clock, retry_max_s=0.01)  # type: ignore[arg-type]
    p.start()
    for i in range(3):
        await p.submit(env(store.log, i, clock))
        clock.advance(0.001)
    await p.stop()
    assert store.log[:2] == ["fail", "fail"]
    commit = next(i for i, x in enumerate(store.log) if x.startswith("commit"))
    acks = [i for i, x in enumerate(store.log) if x.startswith("ack")]
    assert acks and min(acks) > commit and len(acks) == 3
    assert p.stats.commit_failures == 2 and store.samples == 3


async def test_http_caller_gets_unavailable_at_once_when_the_store_fails() -> None:
    clock, store = FakeClock(), FakeStore(fail=1)
    p = IngestPipeline(store, MAPPING, clock=clock, retry_max_s=0.01)  # type: ignore[arg-type]
    p.start()
    with pytest.raises(UnavailableError):
        await p.ingest_http([HttpReading("tw", "v", 1.0, None, None)])
    ok = await p.ingest_http([HttpReading("tw", "v", 2.0, None, "2026-01-01T00:00:01Z")])
    assert ok.result.inserted >= 1
    await p.stop()


async def test_stale_points_are_marked_from_the_injected_clock() -> None:
    clock, store = FakeClock(), FakeStore()
    p = IngestPipeline(store, MAPPING, clock=clock, stale_interval_s=0.0)  # type: ignore[arg-type]
    p.start()
    await p.submit(env(store.log, 0, clock))
    await asyncio.sleep(0.3)
    assert store.marked == []
    clock.advance(3.6)  # 3 × 1 s + 0.5 s grace exceeded
    for _ in range(50):
        if store.marked:
            break
        await asyncio.sleep(0.05)
    await p.stop()
    assert store.marked == [([("tw", "v")], "bad", "stale")]


def test_now_us_reads_the_injected_clock_or_the_wall_clock() -> None:
    import time

    from tvilling.ports.clock import SystemClock

    clock = FakeClock()
    assert IngestPipeline(FakeStore(), MAPPING, clock=clock).now_us() == 1_767_225_600_000_000  # type: ignore[arg-type]
    wall = IngestPipeline(FakeStore(), MAPPING, clock=SystemClock())  # type: ignore[arg-type]
    before = time.time_ns() // 1000
    got = wall.now_us()
    after = time.time_ns() // 1000
    assert before <= got <= after
    dt = SystemClock().now() - datetime(1970, 1, 1, tzinfo=UTC)  # the same timescale as the datetime path
    assert abs(wall.now_us() - (dt.days * 86_400 + dt.seconds) * 1_000_000 - dt.microseconds) < 1_000_000


class SlowStore(FakeStore):
    """The first commit blocks until released, so the test controls what arrives while it runs."""

    def __init__(self) -> None:
        super().__init__()
        import threading
        self.started, self.release = threading.Event(), threading.Event()

    def write_series(self, series: Any, quarantine: Any, latest: Any, now_us: int) -> BatchResult:
        if not self.started.is_set():
            self.started.set()
            self.release.wait(5)
        return super().write_series(series, quarantine, latest, now_us)


async def test_what_arrives_during_a_commit_joins_the_next_batch_and_commits_right_after() -> None:
    clock, store = FakeClock(), SlowStore()
    p = IngestPipeline(store, MAPPING, clock=clock, max_delay_s=0.001)  # type: ignore[arg-type]
    p.start()
    await p.submit(env(store.log, 0, clock))
    await asyncio.to_thread(store.started.wait, 5)  # batch 1 is committing
    await p.submit(env(store.log, 1, clock))
    await asyncio.sleep(0.05)  # batch 2 was cut and assessed (the old pipeline committed it as soon as 1 ended)
    for i in range(2, 5):  # ... and these arrive while commit 1 still runs: they join batch 2
        clock.advance(0.001)
        await p.submit(env(store.log, i, clock))
        await asyncio.sleep(0.01)
    store.release.set()
    await p.stop()
    assert [x for x in store.log if x.startswith("commit")] == ["commit:1", "commit:4"]
    assert p.stats.points == 5 and p.stats.batches == 2
