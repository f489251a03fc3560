"""Decode + rules + rows + SQLite write of the bench's 10-point messages, in process (development tool).

For instruction counts, which do not move with the host's speed the way CPU seconds do on a shared VM: run it under
callgrind with 1 and 3 repetitions and take the difference per message (imports and set-up cancel out):

    for r in 1 3; do valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python \\
        bench/ingest_dev/build_and_write.py $r 2>&1 | grep Collected; done
    # instructions per message = (Ir(3) - Ir(1)) / (2 * 2000); hash randomisation moves it by a few percent

Each repetition assesses and writes 2 000 new messages in batches of 500 (50 samples per series per batch).
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest_rows import Envelope, Rows, build_rows
from tvilling.app.runtime import GC_THRESHOLDS
from tvilling.cli.bench_ingest import _payload, write_mappings
from tvilling.quality.mapping import load_mappings
from tvilling.quality.rules import QualityEngine

DEVICES, POINTS, PER_REP, BATCH = 10, 10, 2000, 500


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    reps = int(sys.argv[1])
    tmp = Path(tempfile.mkdtemp())
    mappings, engine = load_mappings(write_mappings(tmp / "m.yaml", DEVICES, POINTS)), QualityEngine()
    store = TimeSeriesStore(connect_durable(f"sqlite:///{tmp}/b.db"))
    schema.metadata.create_all(store.engine)
    base_ms = int(time.time() * 1000) - 3_600_000
    now_us = int(time.time() * 1e6)
    envs = []
    for i in range(PER_REP * 3 + BATCH):
        topic, payload = _payload(i, POINTS, DEVICES, base_ms, 0.0)
        envs.append(Envelope("mqtt", topic, now_us, payload))

    def write(rows: Rows) -> None:
        if hasattr(store, "write_series"):
            store.write_series(rows.series, rows.quarantine, rows.latest, now_us)
        else:  # commits before the grouped rows
            store.write_batch(rows.samples, rows.quarantine, rows.latest, now_us)

    write(build_rows(envs[:BATCH], mappings, engine))  # creates the series: set-up, not measured
    envs = envs[BATCH:]
    for r in range(reps):
        part = envs[r * PER_REP:(r + 1) * PER_REP]
        for i in range(0, PER_REP, BATCH):
            write(build_rows(part[i:i + BATCH], mappings, engine))


if __name__ == "__main__":
    main()
