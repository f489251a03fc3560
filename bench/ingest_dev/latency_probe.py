"""Where the paced phase's device->queryable latency goes (development tool, not a benchmark contract).

Runs ``cli.bench_ingest._platform`` paced (real Mosquitto, default process receiver, 1 000 messages/s of 10 points
for ``SECONDS``, default 6) and times, per batch: the wall time of ``build_rows`` and of the store write, the batch
size, and per message: send -> arrival (MQTT thread), arrival -> batch picked up, pick-up -> write start, write
duration, write end -> on_commit. Prints percentiles (ms) of each leg, messages sent in the first second excluded.

    .venv/bin/python bench/ingest_dev/latency_probe.py
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import tvilling.cli.bench_ingest as bi
from tvilling.adapters.sql.timeseries import TimeSeriesStore
from tvilling.app import ingest as ingest_module

DEVICES, POINTS, RATE = 10, 10, 1000.0  # 10 000 points/s, as the bench's paced phase


def paced_setup(default_seconds: float) -> tuple[Path, str, int, Any, Path, int]:
    """A scratch folder, a Mosquitto on a loopback port in it, the stream's mapping file and the message count for
    ``SECONDS`` (environment; ``default_seconds`` otherwise) at :data:`RATE`."""
    tmp = Path(tempfile.mkdtemp())
    host, port, broker = bi._start_broker(tmp)
    n = int(RATE * float(os.environ.get("SECONDS", str(default_seconds))))
    return tmp, host, port, broker, bi.write_mappings(tmp / "m.yaml", DEVICES, POINTS), n


def pct(xs: list[float]) -> str:
    xs = sorted(xs)
    if not xs:
        return "-"
    return " / ".join(f"{xs[int(q * (len(xs) - 1))] * 1000:.1f}" for q in (0.5, 0.9, 0.99, 1.0))


def main() -> None:
    spans: dict[int, dict[str, float]] = {}  # id(rows) -> timings
    local = threading.local()
    build = getattr(ingest_module, "build_rows")  # noqa: B009

    def timed_build(batch: Any, *a: Any) -> Any:
        t0 = time.time()
        out = build(batch, *a)
        spans[id(out)] = {"build_start": t0, "build_end": time.time(), "n": len(batch)}
        return out

    setattr(ingest_module, "build_rows", timed_build)  # noqa: B010
    write = TimeSeriesStore.write_series
    writes: list[tuple[float, float]] = []

    def timed_write(self: TimeSeriesStore, *a: Any) -> Any:
        t0 = time.time()
        out = write(self, *a)
        writes.append((t0, time.time()))
        local.last = writes[-1]
        return out

    setattr(TimeSeriesStore, "write_series", timed_write)  # noqa: B010
    legs: dict[str, list[float]] = {k: [] for k in ("arrival", "to_build", "build", "build_to_write", "write",
                                                      "after_write", "total")}
    sizes: list[int] = []
    tmp, host, port, broker, mappings, n = paced_setup(6)
    devices, points, rate = DEVICES, POINTS, RATE
    orig_commit = ingest_module.IngestPipeline._commit

    async def commit(self: Any, batch: Any, rows: Any) -> None:
        span = spans.pop(id(rows), None)
        before = len(writes)
        await orig_commit(self, batch, rows)
        now = time.time()
        if span is None or len(writes) == before:
            return
        w0, w1 = writes[before]
        sizes.append(len(batch))
        for e in batch:
            doc = json.loads(e.payload)
            if doc["seq"] - n < rate * bi.WARMUP_S:
                continue
            arr = e.received_at_us / 1e6
            legs["arrival"].append(arr - doc["sent"])
            legs["to_build"].append(span["build_start"] - arr)
            legs["build"].append(span["build_end"] - span["build_start"])
            legs["build_to_write"].append(w0 - span["build_end"])
            legs["write"].append(w1 - w0)
            legs["after_write"].append(now - w1)
            legs["total"].append(now - doc["sent"])

    setattr(ingest_module.IngestPipeline, "_commit", commit)  # noqa: B010
    asyncio.run(bi._platform(host, port, tmp / "l.db", mappings, n, points, devices, rate,
                             int(time.time() * 1000) - 3_600_000, "process"))
    broker.terminate()
    sizes.sort()
    print(f"batches {len(sizes)}, messages per batch p50 {sizes[len(sizes) // 2]} max {sizes[-1]}")
    print("leg: p50 / p90 / p99 / max (ms), per message")
    for k, v in legs.items():
        print(f"  {k:15s} {pct(v)}")


if __name__ == "__main__":
    main()
