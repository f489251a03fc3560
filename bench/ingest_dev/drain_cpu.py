"""CPU per message of each process in the ingest bench's drain phase (development tool, not a benchmark contract).

Runs ``cli.bench_ingest._platform`` on a prefilled stream (real Mosquitto, default process receiver) and, between the
first and the last commit, reads the ``/proc/<pid>/stat`` CPU of the platform process, the MQTT receiver child and
Mosquitto; ``time.thread_time()`` around ``build_rows`` and the store write gives their share (summed over the whole
run, start-up included, so use the default 40 000 messages). Prints one line.

    .venv/bin/python bench/ingest_dev/drain_cpu.py [process|thread]          # N=40000 messages by default
    PYTHONPATH=/path/to/other/worktree/src .venv/bin/python bench/ingest_dev/drain_cpu.py   # A/B another commit

Interleave A and B runs: on a shared VM the host's speed moves by tens of percent between minutes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tvilling.cli.bench_ingest as bi
from tvilling.adapters.sql.timeseries import TimeSeriesStore
from tvilling.app import ingest as ingest_module
from tvilling.app.ingest_mqtt import MqttIngestService


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    acc = {"build": 0.0, "write": 0.0}
    build = getattr(ingest_module, "build_rows")  # noqa: B009 — patched below: the module's own reference

    def timed_build(*a: Any) -> Any:
        c = time.thread_time()
        out = build(*a)
        acc["build"] += time.thread_time() - c
        return out

    setattr(ingest_module, "build_rows", timed_build)  # noqa: B010
    write_name = "write_series" if hasattr(TimeSeriesStore, "write_series") else "write_batch"  # older commits
    write = getattr(TimeSeriesStore, write_name)

    def timed_write(self: TimeSeriesStore, *a: Any) -> Any:
        c = time.thread_time()
        out = write(self, *a)
        acc["write"] += time.thread_time() - c
        return out

    setattr(TimeSeriesStore, write_name, timed_write)
    marks: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp())
    host, port, broker = bi._start_broker(tmp)
    devices, points, n = 10, 10, int(os.environ.get("N", "40000"))
    mappings = bi.write_mappings(tmp / "m.yaml", devices, points)
    start = MqttIngestService.start

    async def start_and_watch(self: Any, *a: Any, **k: Any) -> None:
        await start(self, *a, **k)
        child = getattr(self.source, "_proc", None)
        pids = (os.getpid(), child.pid if child is not None else None, broker.pid)

        def on_commit(c: Any) -> None:
            now = (time.perf_counter(), [cpu_s(p) if p else 0.0 for p in pids])
            marks.setdefault("first", now)
            marks["last"] = now
            marks["n"] = marks.get("n", 0) + len(c.envelopes)
            marks["commits"] = marks.get("commits", 0) + 1

        self.pipeline.on_commit.insert(0, on_commit)

    setattr(MqttIngestService, "start", start_and_watch)  # noqa: B010
    receiver = sys.argv[1] if len(sys.argv) > 1 else "process"
    res = asyncio.run(bi._platform(host, port, tmp / "d.db", mappings, n, points, devices, None,
                                   int(time.time() * 1000) - 3_600_000, receiver))  # type: ignore[arg-type]
    broker.terminate()
    (t0, c0), (t1, c1) = marks["first"], marks["last"]
    count = marks["n"]
    per = [(b - a) / count * 1e6 for a, b in zip(c0, c1, strict=True)]
    util = [(b - a) / (t1 - t0) for a, b in zip(c0, c1, strict=True)]
    build_us, write_us = acc["build"] / count * 1e6, acc["write"] / count * 1e6
    print(f"msgs/s {res['msgs_per_s']:.0f}  us/msg: platform {per[0]:.1f} (build_rows {build_us:.1f}, "
          f"write {write_us:.1f}) receiver child {per[1]:.1f} mosquitto {per[2]:.1f}  "
          f"cores busy: platform {util[0]:.2f} child {util[1]:.2f} mosquitto {util[2]:.2f}  "
          f"commits {marks['commits']} (mean {count / marks['commits']:.0f} messages)")


if __name__ == "__main__":
    main()
