"""CPU and wall time of one small ingest commit written alone (development tool, not a benchmark contract).

The bench's 10-point messages of 10 devices (100 series) are assessed and written through
``TimeSeriesStore.write_series`` in commits of ``B`` messages (default 12, what the paced phase of ``tvilling bench
ingest`` commits at 10 000 points/s) to a durable SQLite file; prints p50/p90/p99 of ``build_rows`` wall time and
of the write's wall and CPU time, then the WAL frames one such commit adds.

    .venv/bin/python bench/ingest_dev/small_commit.py 12
    PYTHONPATH=/path/to/other/worktree/src .venv/bin/python bench/ingest_dev/small_commit.py 12   # A/B
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from pathlib import Path

from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest_rows import Envelope, build_rows
from tvilling.app.runtime import GC_THRESHOLDS
from tvilling.cli.bench_ingest import _payload, write_mappings
from tvilling.quality.mapping import load_mappings
from tvilling.quality.rules import QualityEngine


def pct(xs: list[float]) -> str:
    xs = sorted(xs)
    return " / ".join(f"{xs[int(q * (len(xs) - 1))] * 1000:.2f}" for q in (0.5, 0.9, 0.99))


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    tmp = Path(tempfile.mkdtemp())
    mappings, engine = load_mappings(write_mappings(tmp / "m.yaml", 10, 10)), QualityEngine()
    store = TimeSeriesStore(connect_durable(f"sqlite:///{tmp}/b.db"))
    schema.metadata.create_all(store.engine)
    base_ms = int(time.time() * 1000) - 3_600_000
    envs = []
    for i in range(6000 + size):
        topic, payload = _payload(i, 10, 10, base_ms, 0.0)
        envs.append(Envelope("mqtt", topic, int(time.time() * 1e6), payload))
    build, wall, cpu = [], [], []
    for i in range(0, 6000, size):
        t0 = time.perf_counter()
        rows = build_rows(envs[i:i + size], mappings, engine)
        t1, c1 = time.perf_counter(), time.process_time()
        store.write_series(rows.series, rows.quarantine, rows.latest, int(time.time() * 1e6))
        if i > 600:  # the first commits create the series and warm up
            build.append(t1 - t0)
            wall.append(time.perf_counter() - t1)
            cpu.append(time.process_time() - c1)
    print(f"{size} messages per commit, p50 / p90 / p99 ms: build_rows {pct(build)}; write wall {pct(wall)}; "
          f"write CPU {pct(cpu)}")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = os.path.getsize(f"{tmp}/b.db-wal")
    rows = build_rows(envs[6000:6000 + size], mappings, engine)
    store.write_series(rows.series, rows.quarantine, rows.latest, int(time.time() * 1e6))
    page = int(store.engine.connect().exec_driver_sql("PRAGMA page_size").scalar() or 4096)
    frames = (os.path.getsize(f"{tmp}/b.db-wal") - max(before, 32)) / (page + 24)
    print(f"WAL frames added by one such commit: {frames:.0f} of {page} bytes")


if __name__ == "__main__":
    main()
