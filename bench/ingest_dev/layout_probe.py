"""Bytes and CPU per ingest commit for two physical layouts of recent samples (development tool, SQLite only).

``current``: every commit inserts into ``samples`` (``WITHOUT ROWID``, key ``(series_id, source_time)``), so a small
commit of a 100-series stream dirties one leaf per series (~100 pages of 4 KiB written to the WAL and fsynced).
``recent``: commits append to a rowid table ``recent`` (a page or two per commit, no index), and every
``MERGE_ROWS`` rows one transaction moves them into ``samples`` in key order (each ``samples`` leaf then takes many
rows at once). What ``recent`` leaves out and a real store would need: duplicate and conflict checks for samples not
newer than their series' newest (an in-memory high-water mark per series, checked against both tables), reads that
union both tables, and retention/rollup repair over both. Plain ``sqlite3``, synchronous=FULL, WAL growth per commit
(checkpoints every 50 commits, not counted), 200 000 rows preloaded.

    .venv/bin/python bench/ingest_dev/layout_probe.py current 8      # layout, messages (x 10 points) per commit
    .venv/bin/python bench/ingest_dev/layout_probe.py recent 8
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time

SERIES, DEVICES, POINTS, COMMITS, MERGE_ROWS = 100, 10, 10, 300, 10_000
COLUMNS = ("series_id INTEGER, source_time INTEGER, value REAL, value_json TEXT, quality TEXT, reason TEXT, "
           "unit TEXT, received_at INTEGER")


def main() -> None:
    layout = sys.argv[1] if len(sys.argv) > 1 else "current"
    per_commit = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    path = os.path.join(tempfile.mkdtemp(), "probe.db")
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "wal_autocheckpoint=0"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(f"CREATE TABLE samples ({COLUMNS}, PRIMARY KEY (series_id, source_time)) WITHOUT ROWID")
    db.execute(f"CREATE TABLE recent ({COLUMNS})")
    t = 1_700_000_000_000_000
    db.execute("BEGIN")
    db.executemany("INSERT INTO samples VALUES (?, ?, ?, NULL, 'good', '', NULL, 0)",
                   ((s, t + i * 1000, 1.0) for i in range(2000) for s in range(SERIES)))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t += 2000 * 1000
    cpu, written, counted, pending = 0.0, 0, 0, 0
    for k in range(COMMITS):
        rows = []
        for m in range(per_commit):
            t += 1000
            dev = (k * per_commit + m) % DEVICES
            rows.extend((dev * POINTS + j, t, 2.0) for j in range(POINTS))
        before, c0 = _wal(path), time.process_time()
        db.execute("BEGIN IMMEDIATE")
        if layout == "current":
            db.executemany("INSERT INTO samples VALUES (?, ?, ?, NULL, 'good', '', NULL, 0) ON CONFLICT DO NOTHING",
                           sorted(rows))
        else:
            db.executemany("INSERT INTO recent VALUES (?, ?, ?, NULL, 'good', '', NULL, 0)", rows)
            pending += len(rows)
            if pending >= MERGE_ROWS:
                db.execute("INSERT INTO samples SELECT * FROM recent ORDER BY series_id, source_time "
                           "ON CONFLICT DO NOTHING")
                db.execute("DELETE FROM recent")
                pending = 0
        db.execute("COMMIT")
        cpu += time.process_time() - c0
        if k % 50 == 49:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # restarts the WAL; this commit's growth is not counted
        else:
            written += _wal(path) - before
            counted += 1
    print(f"{layout}: {per_commit} messages per commit: WAL KiB per commit {written / counted / 1024:.0f}, "
          f"CPU per commit {cpu / COMMITS * 1000:.2f} ms")


def _wal(path: str) -> int:
    return os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0


if __name__ == "__main__":
    main()
