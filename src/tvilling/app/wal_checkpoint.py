"""Background WAL checkpoints for SQLite, so that no commit (and no acknowledgement waiting on one) pays for them.

Left to itself SQLite checkpoints inside the COMMIT that pushes the WAL past ``wal_autocheckpoint`` pages: that
commit copies the WAL into the database file and fsyncs it, which showed up as the slowest acks at ingest. The
platform runs a PASSIVE checkpoint from a worker thread every ``interval_s`` instead (PASSIVE never blocks writers
or readers); the engine keeps a larger autocheckpoint threshold only as a backstop. PostgreSQL: nothing to do.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Engine

from tvilling.adapters.sql.engine import checkpoint_wal

log = logging.getLogger(__name__)
INTERVAL_S = 0.5


async def checkpoint_loop(engine: Engine, interval_s: float = INTERVAL_S) -> None:
    """Checkpoint ``engine``'s WAL every ``interval_s`` until cancelled (returns at once on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return
    while True:
        try:
            await asyncio.to_thread(checkpoint_wal, engine)
        except Exception as exc:  # busy or briefly unavailable: the next round (or the backstop) catches up
            log.debug("WAL checkpoint skipped: %s", exc)
        await asyncio.sleep(interval_s)


async def run_wal_checkpoint(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``."""
    await checkpoint_loop(platform.store.engine)
