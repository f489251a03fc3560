"""Event routes (outbound webhooks): event committed -> received by a loopback receiver, and sustained deliveries/s
of one route; the WebSocket event stream's latency on the same events is the baseline, in the same run. Prints one
JSON object.

The platform is served by uvicorn on 127.0.0.1 (background services on, durable SQLite by default) with one route
(kinds ``insight.bench``) to a receiver in a separate process (``--receiver`` mode of this script: http.server,
answers 204, prints "<CloudEvents id> <arrival time>" per request), and one WebSocket client subscribed to the same
kind. Latency: ``--events`` events, each committed alone (one transaction, then published on the bus, as every
platform writer does) ``--gap-ms`` apart, from just after COMMIT to arrival at the receiver / the WebSocket client.
Throughput: ``--burst`` events committed in transactions of 100 as fast as possible; deliveries/s = burst / (last
arrival - first commit). Each delivery is one HTTP POST and one durable commit (its log row and the route's cursor).

    nice -n 5 .venv/bin/python bench/bench_webhooks.py [--events 200] [--burst 2000] [--profile durable|fast]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

KIND = "insight.bench"


def receiver_main(port: int) -> None:
    """The receiver process: 204 to every POST, one line "<id> <time.time()>" per request on stdout."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            at = time.time()
            sys.stdout.write(f"{json.loads(body)['id']} {at:.6f}\n")
            sys.stdout.flush()
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.serve_forever()


class Arrivals:
    """Lines of the receiver process, read on a thread: CloudEvents id -> arrival time."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.times: dict[str, float] = {}
        self.ready = threading.Event()
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.strip() == "ready":
                self.ready.set()
                continue
            event_id, at = line.split()
            self.times.setdefault(event_id, float(at))

    def wait(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.times) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"error: {len(self.times)} of {count} deliveries arrived within {timeout:g} s")
            time.sleep(0.005)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "max": round(ordered[-1], 2), "n": len(ordered)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200, help="latency samples (one event per commit)")
    ap.add_argument("--gap-ms", type=float, default=20.0, help="pause between latency events")
    ap.add_argument("--burst", type=int, default=2000, help="events for the throughput phase")
    ap.add_argument("--profile", choices=("durable", "fast"), default="durable")
    ap.add_argument("--receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver is not None:
        receiver_main(args.receiver)
        return

    # The platform is imported here: the receiver process stays cheap to start.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pydantic import SecretStr
    from tests.support.platform import live_server
    from tests.support.services import free_port
    from websockets.sync.client import connect

    from tvilling.app.event_routes import event_route_service
    from tvilling.bootstrap import build_platform
    from tvilling.core.context import new_id
    from tvilling.core.events import Event
    from tvilling.core.roles import Role
    from tvilling.settings import Settings

    out: dict[str, Any] = {"events": args.events, "burst": args.burst, "profile": args.profile, "backend": "sqlite",
                           "cpus": os.cpu_count(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory(prefix="tvilling-bench-webhooks-") as tmp:
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)], stdout=subprocess.PIPE,
                                text=True)
        arrivals = Arrivals(proc)
        if not arrivals.ready.wait(10):
            raise SystemExit("error: the receiver process did not start")
        settings = Settings(db=SecretStr(f"sqlite:///{Path(tmp) / 'bench.db'}"), data_dir=Path(tmp),
                            profile=args.profile, rate_limit_enabled=False)
        plat = build_platform(settings, announce=lambda _t: None, dashboard=False)
        services = plat.services
        token = services.tokens.create("bench", Role.VIEWER, "bench").token
        event_route_service(plat.app.state, services).create(
            "bench", name="bench", url=f"http://127.0.0.1:{port}/hooks", filter={"kinds": [KIND]},
            role=Role.ENGINEER, actor="bench")
        ws_times: dict[str, float] = {}

        def commit(count: int) -> list[tuple[str, float]]:
            """``count`` events in one transaction, published after COMMIT; (context id, commit time) each."""
            evs = [Event(kind=KIND, tenant="bench", subject="bench-1", time=services.clock.now(), context_id=new_id(),
                         actor="bench", data={"n": i}) for i in range(count)]
            with services.store.write() as tx:
                tx.events.append(evs)
            committed = time.time()
            services.bus.publish(evs)
            return [(e.context_id, committed) for e in evs]

        try:
            with live_server(plat.app) as base:
                ws_url = base.replace("http://", "ws://") + f"/api/v1/events?kind={KIND}&access_token={token}"
                with connect(ws_url) as ws:
                    def listen() -> None:
                        for frame in ws:
                            ws_times.setdefault(json.loads(frame)["context"]["id"], time.time())

                    threading.Thread(target=listen, daemon=True).start()
                    commit(1)  # warm-up: first connection, first lease
                    arrivals.wait(1, 30)
                    time.sleep(0.3)
                    sent: list[tuple[str, float]] = []
                    for _ in range(args.events):
                        sent += commit(1)
                        time.sleep(args.gap_ms / 1000)
                    arrivals.wait(1 + args.events, 60)
                    time.sleep(0.2)
                    by_context = {k.split("-", 1)[1]: t for k, t in arrivals.times.items()}
                    out["latency_ms"] = {
                        "webhook": percentiles([(by_context[c] - t) * 1000 for c, t in sent]),
                        "websocket": percentiles([(ws_times[c] - t) * 1000 for c, t in sent if c in ws_times])}

                    before = len(arrivals.times)
                    began = time.time()
                    for start in range(0, args.burst, 100):
                        commit(min(100, args.burst - start))
                    committed_s = time.time() - began
                    arrivals.wait(before + args.burst, 600)
                    last = max(arrivals.times.values())
                    out["throughput"] = {"deliveries_per_s": round(args.burst / (last - began), 1),
                                         "commit_s": round(committed_s, 3), "deliver_s": round(last - began, 3)}
                    routes = event_route_service(plat.app.state, services)
                    for _ in range(100):  # the last delivery is logged just after the receiver's answer
                        route = routes.list("bench")[0]
                        if route["status"]["backlog"] == 0:
                            break
                        time.sleep(0.05)
                    out["route"] = {"backlog": route["status"]["backlog"], "dead": route["status"]["deadLetters"],
                                    "state": route["state"]}
        finally:
            plat.close()
            proc.terminate()
            proc.wait(10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
