"""Time-series retention: raw samples, 1-min and 1-h rollups and quarantine kept for configured times.

``run_retention(platform)`` is registered in ``bootstrap.BACKGROUND``: every ``retention_interval_s`` it runs one
pass. A pass deletes in batches of ``retention_batch_rows`` rows, each its own short transaction run in a worker
thread, and then pauses at least as long as the batch took (``PAUSE_FACTOR``): the database's write lock is free
at least half of the time, so ingestion keeps committing while a large backlog is purged. (Without the pause the
next batch grabs the lock again before a waiting writer's busy-retry wakes up, and the writer starves.)
``tvilling retention run`` runs one pass on a database directly. A keep time of 0 days keeps that class forever.

Raw samples and rollups age by their source time; quarantined records by the time they were received.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tvilling.adapters.sql.retention import TARGETS, delete_batch

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400 * 1_000_000
PAUSE_FACTOR = 1.0  # pause after a batch = this x the batch's duration ...
MIN_PAUSE_S = 0.005  # ... and at least this


@dataclass(frozen=True)
class RetentionPolicy:
    raw_days: float = 0.0
    rollup_1m_days: float = 0.0
    rollup_1h_days: float = 0.0
    quarantine_days: float = 30.0
    batch_rows: int = 5000

    @classmethod
    def from_settings(cls, settings: Any) -> RetentionPolicy:
        return cls(raw_days=settings.retention_raw_days, rollup_1m_days=settings.retention_rollup_1m_days,
                   rollup_1h_days=settings.retention_rollup_1h_days,
                   quarantine_days=settings.retention_quarantine_days, batch_rows=settings.retention_batch_rows)

    def cutoffs(self, now: datetime) -> dict[str, int]:
        """Per target, the oldest time (µs since the epoch) kept; targets kept forever are left out."""
        now_us = (now - _EPOCH) // timedelta(microseconds=1)
        days = {"raw": self.raw_days, "rollup_1m": self.rollup_1m_days, "rollup_1h": self.rollup_1h_days,
                "quarantine": self.quarantine_days}
        return {name: int(now_us - d * DAY_US) for name, d in days.items() if d > 0}


def _pause(batch_s: float) -> float:
    return max(MIN_PAUSE_S, PAUSE_FACTOR * batch_s)


def run_pass(engine: Engine, policy: RetentionPolicy, now: datetime,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, int]:
    """One synchronous pass (the CLI; a server may be writing to the same database); rows deleted per target."""
    deleted: dict[str, int] = {}
    for name, cutoff in policy.cutoffs(now).items():
        total = 0
        while True:
            started = time.monotonic()
            n = delete_batch(engine, TARGETS[name], cutoff, policy.batch_rows)
            total += n
            if n < policy.batch_rows:
                break
            sleep(_pause(time.monotonic() - started))
        deleted[name] = total
    return deleted


async def run_pass_async(engine: Engine, policy: RetentionPolicy, now: datetime) -> dict[str, int]:
    """One pass from the event loop: every batch in a worker thread, pausing between batches."""
    deleted: dict[str, int] = {}
    for name, cutoff in policy.cutoffs(now).items():
        total = 0
        while True:
            started = time.monotonic()
            n = await asyncio.to_thread(delete_batch, engine, TARGETS[name], cutoff, policy.batch_rows)
            total += n
            if n < policy.batch_rows:
                break
            await asyncio.sleep(_pause(time.monotonic() - started))
        deleted[name] = total
    return deleted


async def run_retention(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: a pass every ``retention_interval_s`` until cancelled."""
    settings = platform.settings
    policy = RetentionPolicy.from_settings(settings)
    interval = float(settings.retention_interval_s)
    if interval <= 0 or not policy.cutoffs(platform.services.clock.now()):
        log.info("retention: off (interval %s s, nothing configured to expire)", interval)
        return
    engine = platform.store.engine
    while True:
        try:
            deleted = await run_pass_async(engine, policy, platform.services.clock.now())
            if any(deleted.values()):
                log.info("retention pass deleted %s", deleted)
        except Exception:  # the database may be briefly unavailable; try again next interval
            log.exception("retention pass failed")
        await asyncio.sleep(interval)
