"""Time is injected: engines never read a clock, tests never sleep for something they can await."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC (for timestamps people read)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for timeouts and rate limits, promise G6)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
