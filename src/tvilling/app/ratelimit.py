"""Token-bucket rate limits per key (a token id, or a client address), on a monotonic clock (promise G6/G7).

A small bucket of our own rather than the ``limits`` library: its in-memory storage reads ``time.time()`` (a wall
clock that can jump) and its async API awaits per check, which is more than a dict lookup on the hot path costs.

Each key holds ``burst`` tokens and refills at ``rate_per_s``; a request takes one. An empty bucket answers how long
until the next token (the ``Retry-After`` of the 429). Memory is bounded: when more than ``max_keys`` keys are
tracked, buckets that have refilled completely (indistinguishable from new ones) are forgotten first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tvilling.app.errors import RateLimitedError
from tvilling.app.security_audit import MARK
from tvilling.ports.clock import Clock

RATE_LIMITED = "rate.limited"  # the security audit action of every 429 (S-15)


@dataclass(frozen=True, slots=True)
class Limit:
    rate_per_s: float
    burst: int


class TokenBuckets:
    """Not thread-safe on purpose: checks run on the event loop (auth dependencies are ``async``)."""

    def __init__(self, limit: Limit, clock: Clock, *, max_keys: int = 100_000) -> None:
        if limit.rate_per_s <= 0 or limit.burst < 1:
            raise ValueError("a rate limit needs rate_per_s > 0 and burst >= 1")
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, monotonic time of that count)

    def take(self, key: str) -> float:
        """Take one token; 0.0 when allowed, else the seconds until one is available (nothing is taken)."""
        now = self._clock.monotonic()
        rate, burst = self.limit.rate_per_s, float(self.limit.burst)
        state = self._buckets.get(key)
        tokens = burst if state is None else min(burst, state[0] + (now - state[1]) * rate)
        if tokens >= 1.0 - 1e-9:  # float sums of elapsed time must not refuse an exactly-due token
            if state is None and len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate

    def _forget_full(self, now: float) -> None:
        rate, burst = self.limit.rate_per_s, float(self.limit.burst)
        level = {k: min(burst, t + (now - at) * rate) for k, (t, at) in self._buckets.items()}
        for k in [k for k, v in level.items() if v >= burst]:
            del self._buckets[k]
        if len(self._buckets) >= self._max_keys:
            # Everyone is busy: forget the fullest half rather than grow. Forgetting refills a bucket, so the
            # drained ones (the clients actually being limited) are kept.
            for k in sorted(self._buckets, key=lambda k: -level[k])[: self._max_keys // 2]:
                del self._buckets[k]


class RateLimiter:
    """The API's limits: one bucket per bearer token, one per client address for unauthenticated traffic
    (``/health`` and failed authentication). ``None`` limits mean off."""

    def __init__(self, clock: Clock, *, per_token: Limit | None, per_address: Limit | None) -> None:
        self.per_token = TokenBuckets(per_token, clock) if per_token else None
        self.per_address = TokenBuckets(per_address, clock) if per_address else None

    def check_token(self, token_id: str) -> None:
        if self.per_token is not None:
            _raise_if_waiting(self.per_token.take(token_id), self.per_token.limit, "this token")

    def check_address(self, address: str) -> None:
        if self.per_address is not None:
            _raise_if_waiting(self.per_address.take(address), self.per_address.limit,
                              "unauthenticated requests from this address")


def _raise_if_waiting(wait_s: float, limit: Limit, who: str) -> None:
    if wait_s > 0.0:
        raise RateLimitedError(
            f"rate limit exceeded for {who}: {limit.rate_per_s:g} requests/s, bursts of {limit.burst}",
            hint="slow down and retry after the Retry-After seconds",
            extra={"retry_after": max(1, math.ceil(wait_s)), MARK: RATE_LIMITED})
