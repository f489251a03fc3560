"""SQLite: small ingest commits append to ``samples_recent``; the rows move into ``samples`` in key order later.

Why: ``samples`` is keyed by (series, time), so a commit holding one or two samples of each of 100 series dirties
~100 leaves, and SQLite writes every dirtied page to the WAL and fsyncs it: ~100 MB/s of WAL at 10 000 points/s for
~400 KB/s of data, with the storage stalls that follow. ``samples_recent`` has no index: an append dirties a page or
two (``bench/ingest_dev/layout_probe.py``: 412 -> 18 KiB of WAL, 1.4 -> 0.4 ms of CPU per 8-message commit).

Correctness rests on one rule: a batch goes to ``samples_recent`` only when every sample in it is newer than
everything stored for its series (the series' *high-water mark*) and times rise strictly within each series, so it
can be neither a duplicate nor a conflict of anything committed. Any other batch first moves ``samples_recent`` into
``samples`` and then takes the duplicate-checking path, which therefore only has to look at ``samples``.

High-water marks are cached per series. A cached mark may be too high (a rolled-back transaction advanced it) but
never too low: then a batch only takes the slower path. Another connection's commit (``PRAGMA data_version``
changes) may have stored newer samples, so the cache is dropped whenever the version or the connection changes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine

from tvilling.adapters.sql.timeseries_batch import SeriesBatch, SeriesKey

SMALL_BATCH = 2_000  # samples; larger batches (a backlog draining) fill leaves well enough by themselves
MERGE_ROWS = 2_000  # rows in samples_recent that trigger a merge at the end of the commit that crossed it
_COLUMNS = "series_id, source_time, value, value_json, quality, reason, unit, received_at"
_MERGE = (f"INSERT INTO samples ({_COLUMNS}) SELECT {_COLUMNS} FROM samples_recent WHERE true "
          "ORDER BY series_id, source_time ON CONFLICT DO NOTHING")


class RecentSamples:
    def __init__(self) -> None:
        self._high_water: dict[int, int] = {}
        self._token: tuple[int, int] | None = None  # (connection id, data_version) the cache is valid for
        self._rows: int | None = None  # rows in samples_recent (None: not counted yet in this process)

    def accepts(self, cur: Any, groups: SeriesBatch, ids: dict[SeriesKey, int]) -> bool:
        """True when ``groups`` may be appended to samples_recent (see the module docstring)."""
        if sum(len(g) for g in groups.values()) > SMALL_BATCH:
            return False
        marks = self._marks(cur, ids.values())
        for key, g in groups.items():
            last = marks[ids[key]]
            for s in g:
                if s[0] <= last:
                    return False
                last = s[0]
        return True

    def appended(self, groups: SeriesBatch, ids: dict[SeriesKey, int], rows: int) -> None:
        for key, g in groups.items():
            self._high_water[ids[key]] = g[-1][0]  # strictly rising: the last is the newest
        self._rows = (self._rows or 0) + rows

    def stored(self, groups: SeriesBatch, ids: dict[SeriesKey, int]) -> None:
        """After the checking path: raise the marks the cache holds (an unknown series stays unknown)."""
        hw = self._high_water
        for key, g in groups.items():
            sid = ids[key]
            if sid in hw and g:
                hw[sid] = max(hw[sid], max(s[0] for s in g))

    def merge_due(self) -> bool:
        return self._rows is not None and self._rows >= MERGE_ROWS

    def merge(self, cur: Any) -> None:
        """Move every row of samples_recent into samples (key order), inside the caller's transaction."""
        if self._rows == 0 and self._token == self._token_of(cur):
            return  # nothing appended since the last merge by this process, and no one else wrote
        if cur.execute("SELECT 1 FROM samples_recent LIMIT 1").fetchone() is not None:
            cur.execute(_MERGE)
            cur.execute("DELETE FROM samples_recent")
        self._rows = 0

    def _marks(self, cur: Any, sids: Iterable[int]) -> dict[int, int]:
        token = self._token_of(cur)
        if token != self._token:
            self._high_water.clear()
            self._rows = None
            self._token = token
        hw = self._high_water
        missing = [sid for sid in sids if sid not in hw]
        if missing:
            recent = dict(cur.execute("SELECT series_id, max(source_time) FROM samples_recent "
                                      "GROUP BY series_id").fetchall())
            for sid in missing:  # max() on the key's prefix: one index descent per series
                row = cur.execute("SELECT max(source_time) FROM samples WHERE series_id = ?", (sid,)).fetchone()
                hw[sid] = max(row[0] if row[0] is not None else -(2**63), recent.get(sid, -(2**63)))
        return hw

    @staticmethod
    def _token_of(cur: Any) -> tuple[int, int]:
        return id(cur.connection), int(cur.execute("PRAGMA data_version").fetchone()[0])


# One cache per database engine, shared by every store on it: two stores writing through the same pooled connection
# would not see each other's commits in ``data_version``.
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, RecentSamples] = weakref.WeakKeyDictionary()


def recent_for(engine: Engine) -> RecentSamples:
    got = _BY_ENGINE.get(engine)
    if got is None:
        got = _BY_ENGINE[engine] = RecentSamples()
    return got


def merge_recent(engine: Engine, conn: Any) -> None:
    """Move samples_recent into samples inside ``conn``'s (write) transaction: for code about to read or delete
    ``samples`` alone."""
    cur = conn.connection.driver_connection.cursor()
    try:
        recent_for(engine).merge(cur)
    finally:
        cur.close()
