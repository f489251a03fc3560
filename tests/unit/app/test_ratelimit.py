"""Token buckets: bursts up to the limit pass, the next request waits exactly as long as the refill needs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tvilling.app.errors import RateLimitedError
from tvilling.app.ratelimit import Limit, RateLimiter, TokenBuckets


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t


def test_burst_then_refill_at_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Limit(rate_per_s=10.0, burst=5), clock)
    assert [buckets.take("a") for _ in range(5)] == [0.0] * 5
    wait = buckets.take("a")
    assert wait == pytest.approx(0.1)  # one token at 10/s
    clock.t += 0.05
    assert buckets.take("a") == pytest.approx(0.05)  # a refused request takes nothing
    clock.t += 0.05
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0  # keys are independent


def test_steady_use_below_the_rate_is_never_refused() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Limit(rate_per_s=100.0, burst=1), clock)
    for _ in range(1000):
        assert buckets.take("a") == 0.0
        clock.t += 0.0101


def test_memory_is_bounded_and_full_buckets_are_forgotten_first() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Limit(rate_per_s=0.1, burst=2), clock, max_keys=10)
    buckets.take("busy")
    buckets.take("busy")
    for i in range(50):
        buckets.take(f"k{i}")
        clock.t += 0.01
    assert len(buckets._buckets) <= 10
    clock.t += 0.5
    assert buckets.take("busy") > 0.0  # the drained bucket was not forgotten (forgetting it would reset it)


def test_limiter_raises_429_error_with_whole_seconds_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, per_token=Limit(0.5, 1), per_address=None)
    limiter.check_token("t")
    with pytest.raises(RateLimitedError) as info:
        limiter.check_token("t")
    assert info.value.extra["retry_after"] == 2
    limiter.check_address("anything")  # no address limit configured: never refused


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBuckets(Limit(0.0, 1), FakeClock())
