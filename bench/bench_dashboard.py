"""Dashboard cost and latency: server CPU and event-to-screen delay with N twins updating at 1 Hz.

One process runs the platform (uvicorn on loopback, SQLite durable profile) with the bottling plant plus N extra
motor twins. A feeder thread posts one HTTP telemetry batch per second (every extra twin's speed and current:
N twins updating at 1 Hz). Phases, in the same run:

1. baseline: the same load with no dashboard open;
2. dashboard: headless Debian Chromium keeps the Overview page (all assets, KPIs) and one twin's detail page open.

Server CPU = this process's CPU time minus the feeder thread's and the Playwright driver thread's own CPU time
(``time.thread_time``), per second of wall time (100 % = one core). Event-to-screen delay: the watched twin's
speed carries a sequence number; a MutationObserver in the page stamps ``Date.now()`` when the number appears; the
delay is that stamp minus the wall time just before the POST (same machine, same clock), so it covers ingest
commit, event bus, the dashboard's coalescing window, the WebSocket push and the render.

Prints one JSON object.

    .venv/bin/python bench/bench_dashboard.py                 # 200 twins, 20 s per phase
    .venv/bin/python bench/bench_dashboard.py --clients 5    # five operators watching
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.dashboard.rig import Rig, chromium, running_platform, sign_in  # noqa: E402

from tvilling.core.roles import Role  # noqa: E402

WATCHED = "fleet-0000"
# The table re-renders its rows, so watch the whole table and re-read the cell on every mutation.
OBSERVER = """() => {
  window.__seen = [];
  let last = null;
  const table = document.querySelector('[data-testid=live-props]');
  const note = () => {
    const cell = table.querySelector('[data-testid=value-speed]');
    const text = cell ? cell.textContent.trim() : null;
    if (text !== null && text !== last) { last = text; window.__seen.push([text, Date.now()]); }
  };
  new MutationObserver(note).observe(table, {childList: true, characterData: true, subtree: true});
}"""


class Feeder(threading.Thread):
    """Posts every fleet twin's speed and current once per second; records when each sequence number was sent."""

    def __init__(self, rig: Rig, twins: list[str]) -> None:
        super().__init__(daemon=True)
        self.rig, self.twins = rig, twins
        self.stop = threading.Event()
        self.sent: dict[str, float] = {}
        self.committed: dict[str, float] = {}  # when the POST was answered (= batch committed)
        self.cpu = 0.0
        self.seq = 0
        self.late = 0
        self.posts = 0
        self._lock = threading.Lock()
        # Posts run in a small pool so a slow commit (fsync on a busy disk) does not shift the 1 Hz schedule.
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="feeder")

    def _post(self, marker: str, readings: list[dict[str, Any]]) -> None:
        t0 = time.thread_time()
        self.rig.post(readings)
        answered = time.time()
        with self._lock:
            self.committed[marker] = answered
            self.cpu += time.thread_time() - t0
            self.posts += 1

    def run(self) -> None:
        rng = random.Random(1)
        next_at = time.monotonic()
        while not self.stop.is_set():
            t_build = time.thread_time()
            self.seq += 1
            marker = f"{self.seq % 1000}.5"  # shown as-is by the dashboard's number format
            stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            readings: list[dict[str, Any]] = []
            for twin in self.twins:
                speed = float(marker) if twin == WATCHED else round(1450 + rng.uniform(-20, 20), 1)
                readings.append({"twinId": twin, "name": "speed", "value": speed, "unit": "rpm",
                                 "sourceTime": stamp})
                readings.append({"twinId": twin, "name": "current", "value": round(8 + rng.uniform(-1, 1), 2),
                                 "unit": "A", "sourceTime": stamp})
            self.sent[marker] = time.time()
            self._pool.submit(self._post, marker, readings)
            with self._lock:
                self.cpu += time.thread_time() - t_build
            next_at += 1.0
            delay = next_at - time.monotonic()
            if delay < 0:
                self.late += 1
                next_at = time.monotonic()
            self.stop.wait(max(delay, 0.0))
        self._pool.shutdown(wait=True)


def measure(feeder: Feeder, seconds: float, main_cpu_before: float) -> dict[str, Any]:
    wall0, proc0, feed0, sent0 = time.monotonic(), time.process_time(), feeder.cpu, set(feeder.sent)
    time.sleep(seconds)
    # Commit latency (POST answered) of this phase's batches: the dashboard must not slow ingestion down.
    phase = [m for m in feeder.sent if m not in sent0]
    wall = time.monotonic() - wall0
    proc = time.process_time() - proc0
    feed = feeder.cpu - feed0
    main = time.thread_time() - main_cpu_before
    server = max(proc - feed - main, 0.0)
    return {"wall_s": round(wall, 2), "server_cpu_pct": round(100 * server / wall, 1),
            "feeder_cpu_pct": round(100 * feed / wall, 1), "markers": phase}


def commit_latency(feeder: Feeder, phase: dict[str, Any]) -> None:
    """Replace the phase's batch markers by their commit latency (after the feeder has drained)."""
    markers = phase.pop("markers")
    phase["ingest_commit_ms"] = summary(sorted((feeder.committed[m] - feeder.sent[m]) * 1000.0
                                               for m in markers if m in feeder.committed))


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"samples": 0}
    return {"samples": len(values), "p50": round(statistics.median(values), 1),
            "p95": round(values[int(0.95 * (len(values) - 1))], 1), "max": round(values[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twins", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=1, help="browser sessions, each with both pages open")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_platform(Path(tmp), extra_twins=args.twins) as rig:
        twins = [f"fleet-{i:04d}" for i in range(args.twins)]
        feeder = Feeder(rig, twins)
        feeder.start()
        time.sleep(3)  # first batches create the points; steady state from here
        baseline = measure(feeder, args.seconds, time.thread_time())
        with chromium() as browser:
            details = []
            for _ in range(args.clients):
                context = browser.new_context(viewport={"width": 1366, "height": 800})
                overview = context.new_page()
                sign_in(overview, rig, Role.VIEWER)
                overview.get_by_test_id("asset-table").wait_for()
                detail = context.new_page()
                detail.goto(rig.url(f"/ui/twin/{WATCHED}"))
                detail.get_by_test_id("value-speed").wait_for()
                details.append(detail)
            detail = details[0]
            detail.evaluate(OBSERVER)
            main0 = time.thread_time()
            dashboard = measure(feeder, args.seconds, main0)
            seen = detail.evaluate("() => window.__seen")
            watchers = rig.platform.app.state.dashboard.hub.watcher_count()
        feeder.stop.set()
        feeder.join(30)
        commit_latency(feeder, baseline)
        commit_latency(feeder, dashboard)
    delays = sorted((t_ms / 1000.0 - feeder.sent[text]) * 1000.0 for text, t_ms in seen if text in feeder.sent)
    # The same samples split at the commit: POST answered (ingest + fsync) vs commit -> pixels (the dashboard).
    commit = sorted((feeder.committed[t] - feeder.sent[t]) * 1000.0 for t, _ in seen if t in feeder.committed)
    after = sorted((ms / 1000.0 - feeder.committed[t]) * 1000.0 for t, ms in seen if t in feeder.committed)
    result = {
        "twins_updating": args.twins, "rate_hz": 1, "points_per_s": 2 * args.twins, "seconds_per_phase": args.seconds,
        "baseline_no_dashboard": baseline,
        "dashboard_open": {**dashboard, "clients": args.clients, "pages_per_client": ["overview", f"twin/{WATCHED}"],
                           "watchers": watchers},
        "event_to_screen_ms": summary(delays),
        "of_which_ingest_commit_ms": summary(commit),
        "of_which_commit_to_screen_ms": summary(after),
        "feeder_late_ticks": feeder.late, "batches_posted": feeder.posts, "batches_due": feeder.seq,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
