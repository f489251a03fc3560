"""Alarm engine cost and retention's effect on concurrent writes; prints one JSON object.

1. Rule evaluation: samples/s through a threshold rule with deadband and on-delay (``tvilling.alarms.evaluate``),
   against the baseline of a bare ``value > limit`` loop over the same samples.
2. Retention while writing: a writer commits one small transaction after another (like ingest's group commits)
   while a pass deletes ``--rows`` old samples; reports the writer's commit latency (p50/p99/max) during the
   purge, for the batched pass (``app.retention``) and for the baseline of one big DELETE transaction.

    .venv/bin/python bench/bench_alarms.py [--rows 200000] [--samples 200000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql.engine import WRITE_OPTION, make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.schema import samples
from tvilling.alarms import AlarmRule, RuleState, Sample, evaluate
from tvilling.app.retention import DAY_US, RetentionPolicy, run_pass

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)


def bench_engine(n: int) -> dict[str, Any]:
    rule = AlarmRule(id="r", type="threshold", property="p", model="dtmi:x:M;1", high=80.0, deadband=2.0,
                     on_delay_s=5.0)
    values = [70.0 + 15.0 * ((i // 50) % 2) + (i % 7) * 0.1 for i in range(n)]  # a square wave with noise
    t0 = time.perf_counter()
    hits = sum(1 for v in values if v > 80.0)
    base_s = time.perf_counter() - t0
    state, transitions = RuleState(), 0
    t0 = time.perf_counter()
    for i, v in enumerate(values):
        state, out = evaluate(rule, state, Sample(v, "good", "", float(i)))
        transitions += len(out)
    eng_s = time.perf_counter() - t0
    return {"samples": n, "engine_samples_per_s": round(n / eng_s), "baseline_compare_per_s": round(n / base_s),
            "transitions": transitions, "baseline_hits": hits}


def _seed(engine: sa.Engine, rows: int) -> None:
    with engine.begin() as conn:
        for start in range(0, rows, 20_000):
            conn.execute(sa.insert(samples), [
                {"tenant": "t", "twin_id": f"x{i % 100}", "name": "p", "source_time": NOW_US - 40 * DAY_US + i,
                 "value": 1.0, "quality": "good", "reason": "", "received_at": NOW_US}
                for i in range(start, min(rows, start + 20_000))])


def _writer(engine: sa.Engine, stop: threading.Event, lat: list[float]) -> None:
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            conn.execute(sa.insert(samples), [{"tenant": "t", "twin_id": "live", "name": "p",
                                               "source_time": NOW_US + i, "value": 1.0, "quality": "good",
                                               "reason": "", "received_at": NOW_US}])
        lat.append((time.perf_counter() - t0) * 1000)
        i += 1
        time.sleep(0.002)


def bench_retention(rows: int, batch: int, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'r.db'}", profile="durable")
        check_version(engine, auto_migrate=True)
        _seed(engine, rows)
        lat: list[float] = []
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(engine, stop, lat))
        writer.start()
        time.sleep(0.3)
        lat.clear()
        t0 = time.perf_counter()
        if mode == "batched":
            deleted = sum(run_pass(engine, RetentionPolicy(raw_days=30, quarantine_days=0, batch_rows=batch),
                                   NOW).values())
        else:  # baseline: one DELETE in one transaction
            with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
                deleted = conn.execute(sa.delete(samples).where(samples.c.source_time < NOW_US - 30 * DAY_US)).rowcount
        purge_s = time.perf_counter() - t0
        stop.set()
        writer.join()
        engine.dispose()
    ordered = sorted(lat) or [0.0]

    def pct(p: float) -> float:  # nearest-rank: never above the maximum, unlike interpolating quantiles
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {"mode": mode, "deleted": deleted, "purge_s": round(purge_s, 2), "writer_commits": len(lat),
            "writer_p50_ms": pct(0.5), "writer_p99_ms": pct(0.99), "writer_max_ms": round(ordered[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    out = {"engine": bench_engine(args.samples),
           "retention": [bench_retention(args.rows, args.batch, m) for m in ("batched", "single_transaction")]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
