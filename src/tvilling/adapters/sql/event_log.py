"""How far the event log may be read without skipping an event that is still being committed.

A reader that remembers "the last ``seq`` I handled" (an event route's cursor) must never move past a ``seq``
whose transaction has not committed yet, or that event is lost to it.

- SQLite: writers are serialised (``BEGIN IMMEDIATE``), so events commit in ``seq`` order and the largest visible
  ``seq`` is safe at once.
- PostgreSQL: ``seq`` comes from a sequence when the row is inserted, and concurrent transactions commit in any
  order: ``seq`` 11 can be visible while 10 is still in flight. So each look records the largest visible ``seq``
  together with the snapshot's ``xmax`` (the first transaction id not yet started); once the oldest transaction
  still running (the current snapshot's ``xmin``) is at or past that ``xmax``, every transaction that could hold
  a smaller ``seq`` has committed or rolled back, and that ``seq`` is safe. An idle database makes it safe at once;
  a busy one at the next look. A transaction must have its id before it draws a ``seq``: the events repository
  asks for it (``pg_current_xact_id()``) before its first event, so a transaction whose only writes are events
  (the insight writers) is covered too.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import sqlalchemy as sa
from sqlalchemy import Engine

from tvilling.adapters.sql.store import translate_errors

_PG_LOOK = sa.text(
    "SELECT (SELECT max(seq) FROM events) AS top, "
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax")
_MAX_PENDING = 10_000
FRESH_S = 0.02  # looks this close together share one query (every route asks after the same commit)


class LogHorizon:
    """``safe()``: the largest ``seq`` below which every event that will ever exist is visible now."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._pending: deque[tuple[int, int]] = deque()  # (largest seq seen, snapshot xmax), oldest first
        self._safe = 0
        self._looked = -1.0
        self._lock = threading.Lock()

    def safe(self) -> int:
        with self._lock:
            now = time.monotonic()
            if now - self._looked >= FRESH_S:
                self._safe = self._look()
                self._looked = time.monotonic()
            return self._safe

    def _look(self) -> int:
        # an outage is one UnavailableError (the route logs one line and retries), not a driver traceback
        with translate_errors(), self._engine.connect() as conn:
            if not self._postgres:
                return int(conn.execute(sa.text("SELECT max(seq) FROM events")).scalar() or 0)
            top, xmin, xmax = conn.execute(_PG_LOOK).one()
            conn.rollback()
        top = int(top or 0)
        if (not self._pending or self._pending[-1][0] != top) and len(self._pending) < _MAX_PENDING:
            self._pending.append((top, int(xmax)))
        safe = self._safe
        while self._pending and self._pending[0][1] <= int(xmin):
            safe = max(safe, self._pending.popleft()[0])
        return safe
