"""Does a fleet RUL training job slow the server down? Request latency of a running platform while it trains a
model on a C-MAPSS training file (``POST /api/v1/ml/rul/jobs``), against the same server idle, in the same run;
for two designs:

* ``child`` (the platform's): the fit runs in a spawned child process;
* ``thread`` (the alternative, for comparison): the fit runs in the server's own worker thread, as a first
  version did (patched in for this arm only).

Each arm starts its own server process (uvicorn, SQLite, loopback). A client in this process sends
``GET /api/v1/twins`` (authenticated; a database read) every 50 ms: first for ``--idle`` seconds with nothing else
running, then from the job's submission until it has finished. Reports per arm and phase: requests, p50, p99 and
max latency in ms, and the job's wall time. Only the training file is read. Prints one JSON object.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_rul_jobs.py [--train FILE] [--idle 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cmapss" / "train_FD001.txt"


def serve(arm: str, db: str, port: int) -> None:
    """The server of one arm (run in its own process); prints an engineer token on its first line."""
    import uvicorn
    from pydantic import SecretStr

    from tvilling.app import rul_jobs
    from tvilling.app.offline_rul import fit_model
    from tvilling.bootstrap import build_platform
    from tvilling.core.roles import Role
    from tvilling.settings import Settings

    if arm == "thread":
        def in_thread(self: Any, work: Any) -> Any:
            return fit_model(work.frame, work.schema, work.settings, source="upload", source_sha256=work.sha256)
        rul_jobs.RulJobs._fit_in_child = in_thread  # type: ignore[method-assign]
    settings = Settings(db=SecretStr(db), port=port, rate_limit_enabled=False)
    built = build_platform(settings, announce=lambda _text: None, dashboard=False)
    print(built.services.tokens.create("default", Role.ENGINEER, "bench").token, flush=True)
    uvicorn.run(built.app, host="127.0.0.1", port=port, log_level="warning")


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    return response.status, body, (time.perf_counter() - started) * 1000.0


def _stats(ms: list[float]) -> dict[str, Any]:
    a = np.array(ms)
    return {"requests": len(a), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_arm(arm: str, train: Path, idle_s: float) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, __file__, "--serve", arm, "--db", f"sqlite:///{tmp}/b.db",
                                   "--port", str(port)], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            token = server.stdout.readline().strip()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for _ in range(200):  # until uvicorn listens
                try:
                    _get(conn, "/health", token)
                    break
                except OSError:
                    conn.close()
                    time.sleep(0.05)
            idle: list[float] = []
            end = time.monotonic() + idle_s
            while time.monotonic() < end:
                idle.append(_get(conn, "/api/v1/twins", token)[2])
                time.sleep(0.05)
            started = time.monotonic()
            conn.request("POST", "/api/v1/ml/rul/jobs?name=fleet&format=cmapss", body=train.read_bytes(),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
            response = conn.getresponse()
            job = json.loads(response.read())
            assert response.status == 202, job
            busy: list[float] = []
            status = job["status"]
            while status in ("queued", "running"):
                busy.append(_get(conn, "/api/v1/twins", token)[2])
                time.sleep(0.05)
                if len(busy) % 20 == 0:
                    status = json.loads(_get(conn, f"/api/v1/ml/rul/jobs/{job['id']}", token)[1])["status"]
            job_s = time.monotonic() - started
            done = json.loads(_get(conn, f"/api/v1/ml/rul/jobs/{job['id']}", token)[1])
            assert done["status"] == "succeeded", done
            return {"idle": _stats(idle), "training": _stats(busy), "job_wall_s": round(job_s, 1),
                    "cv_rmse": done["summary"]["cv_rmse"]}
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=Path, default=DEFAULT)
    ap.add_argument("--idle", type=float, default=15.0)
    ap.add_argument("--serve", choices=("child", "thread"))
    ap.add_argument("--db")
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port)
        return
    out: dict[str, Any] = {"train": args.train.name, "cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_1m_start": round(os.getloadavg()[0], 2)}
    for arm in ("child", "thread"):
        out[arm] = run_arm(arm, args.train, args.idle)
    out["load_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
