"""What overlaps the paced phase's slowest messages (development tool, not a benchmark contract).

Runs ``cli.bench_ingest._platform`` paced (real Mosquitto, process receiver, 1 000 messages/s of 10 points for
``SECONDS``, default 20) and records a timeline: each store write (start, end, batch size), each background WAL
checkpoint (start, end, pages), each garbage collection (generation, duration), and per message its send time and
commit time. Prints the latency percentiles and, for every stall (a message slower than ``STALL_MS``, default 50),
the events in the second before its commit.

    SECONDS=30 .venv/bin/python bench/ingest_dev/stall_probe.py
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from typing import Any

from latency_probe import DEVICES, POINTS, RATE, paced_setup  # same folder (run as a script)

import tvilling.cli.bench_ingest as bi
from tvilling.adapters.sql.timeseries import TimeSeriesStore
from tvilling.app import ingest as ingest_module
from tvilling.app import wal_checkpoint

events: list[tuple[float, float, str]] = []  # (start, end, what)


def _timed(what: str, fn: Any) -> Any:
    def run(*a: Any, **kw: Any) -> Any:
        t0, c0 = time.time(), time.thread_time()
        out = fn(*a, **kw)
        label = what(a, out) if callable(what) else what
        # thread CPU next to wall time: a long wall with little CPU waited (storage, lock, or preemption)
        events.append((t0, time.time(), f"{label} (cpu {(time.thread_time() - c0) * 1000:.1f} ms)"))
        return out
    return run


def main() -> None:
    write = TimeSeriesStore.write_series
    setattr(TimeSeriesStore, "write_series",  # noqa: B010
            _timed(lambda a, _o: f"write {sum(len(v) for v in a[1].values())} samples", write))
    setattr(wal_checkpoint, "checkpoint_wal", _timed(lambda _a, o: f"checkpoint {o}", wal_checkpoint.checkpoint_wal))  # noqa: B010
    from tvilling.adapters.sql import recent
    setattr(recent.RecentSamples, "merge", _timed("merge", recent.RecentSamples.merge))  # noqa: B010
    gc_start: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start["t"] = time.time()
        else:
            events.append((gc_start.get("t", time.time()), time.time(),
                           f"gc gen{info['generation']} collected {info['collected']}"))

    gc.callbacks.append(on_gc)
    msgs: list[tuple[float, float, float]] = []  # (sent, arrived, committed)
    tmp, host, port, broker, mappings, n = paced_setup(20)
    devices, points, rate = DEVICES, POINTS, RATE
    orig_commit = ingest_module.IngestPipeline._commit
    paced: dict[str, Any] = {"on": False, "t0": 0.0}

    async def commit(self: Any, batch: Any, rows: Any) -> None:
        await orig_commit(self, batch, rows)
        now = time.time()
        if not paced["on"]:
            return
        for e in batch:
            d = json.loads(e.payload)
            if d["seq"] - n >= rate * bi.WARMUP_S:
                msgs.append((d["sent"], e.received_at_us / 1e6, now))

    setattr(ingest_module.IngestPipeline, "_commit", commit)  # noqa: B010
    if os.environ.get("MODE") == "bench":  # the whole `bench ingest` run; only its paced phase is analysed
        broker.terminate()
        platform = bi._platform

        async def flagged(*a: Any) -> Any:
            paced["on"] = a[7] is not None
            paced["t0"] = time.time()
            return await platform(*a)

        setattr(bi, "_platform", flagged)  # noqa: B010
        out = bi.run_bench(None, 20_000, points, devices, n / rate)
        print(json.dumps({k: out[k] for k in ("ratio", "points_per_s", "p99_latency_ms", "max_latency_ms")}))
    else:
        paced["on"] = True
        asyncio.run(bi._platform(host, port, tmp / "l.db", mappings, n, points, devices, rate,
                                 int(time.time() * 1000) - 3_600_000, "process"))
        broker.terminate()
    lat = sorted(c - s for s, _a, c in msgs)
    print(json.dumps({"messages": len(lat), "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
                      "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 2),
                      "max_ms": round(lat[-1] * 1000, 2)}))
    events[:] = [e for e in events if e[0] >= paced["t0"]]  # the paced phase only
    ckpts = [(t0, t1) for t0, t1, w in events if w.startswith("checkpoint")]
    writes = [(t0, t1) for t0, t1, w in events if w.startswith("write")]
    merges = [(t0, t1) for t0, t1, w in events if w.startswith("merge")]
    m = sorted(t1 - t0 for t0, t1 in merges)
    if m:
        print(f"merges {len(m)}, ms p50/p99/max {m[len(m) // 2] * 1000:.1f} / {m[int(0.99 * (len(m) - 1))] * 1000:.1f}"
              f" / {m[-1] * 1000:.1f}")
    slow = [(t0, t1) for t0, t1 in writes if t1 - t0 > 0.03]
    print(f"writes > 30 ms: {len(slow)}, of them containing a merge:"
          f" {sum(any(t0 <= a and b <= t1 for a, b in merges) for t0, t1 in slow)}")
    both = {True: [], False: []}  # write durations, overlapping a checkpoint or not
    for t0, t1 in writes:
        both[any(c0 < t1 and c1 > t0 for c0, c1 in ckpts)].append(t1 - t0)
    for k, v in both.items():
        v.sort()
        if v:
            print(f"writes {'during' if k else 'outside'} a checkpoint: {len(v)}, ms p50/p99/max "
                  f"{v[len(v) // 2] * 1000:.1f} / {v[int(0.99 * (len(v) - 1))] * 1000:.1f} / {v[-1] * 1000:.1f}")
    if os.environ.get("QUIET"):
        return
    stall_s = float(os.environ.get("STALL_MS", "50")) / 1000
    shown = -1.0
    for s, a, c in sorted(msgs):
        if c - s < stall_s or c <= shown:
            continue
        shown = c
        print(f"--- stall: sent {s:.3f} arrived +{(a - s) * 1000:.1f} ms committed +{(c - s) * 1000:.1f} ms")
        for t0, t1, what in sorted(events):
            if t1 >= s - 1.0 and t0 <= c and (t1 - t0 > 0.005 or not what.startswith("write")):
                print(f"  {(t0 - s) * 1000:+9.1f} .. {(t1 - s) * 1000:+9.1f} ms  ({(t1 - t0) * 1000:7.1f})  {what}")


if __name__ == "__main__":
    main()
