"""HTTP API throughput and memory: twin reads/s and JSON-Patch updates/s through one `tvilling serve` process.

The server runs as a subprocess (uvicorn on loopback, durable profile by default); load comes from separate client
processes with keep-alive connections (http.client: lower client overhead than httpx, so the server is what we
measure). Baseline in the same run: GET /health (no auth, no database) from the same clients — the framework's
ceiling on this machine. Anchor: Azure Digital Twins' documented default limit of 1,000 API reads/s per instance.

Prints one JSON object.

    .venv/bin/python bench/bench_api.py                       # 100k twins x 10 properties, 10 s per phase
    .venv/bin/python bench/bench_api.py --twins 10000 --seconds 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

MODEL = "dtmi:bench:Sensor;1"
PROPS = [f"p{i}" for i in range(10)]


def seed(db_url: str, n_twins: int) -> str:
    """Schema, model, admin token and n twins straight into the database (seeding is not what we measure)."""
    from pydantic import SecretStr

    from tvilling.adapters.sql.schema import twins
    from tvilling.app.services import Services
    from tvilling.bootstrap import open_store
    from tvilling.core.context import Context
    from tvilling.core.roles import Role
    from tvilling.settings import Settings

    store, _ = open_store(Settings(db=SecretStr(db_url)))
    services = Services.build(store)
    token = services.tokens.create("default", Role.ADMIN, "bench").token
    model = {"@context": "dtmi:dtdl:context;3", "@id": MODEL, "@type": "Interface",
             "contents": [{"@type": "Property", "name": p, "schema": "double", "writable": True} for p in PROPS]}
    services.models.upload("default", [model], Context.new("bench"))
    now = datetime.now(UTC)
    stamp = now.isoformat().replace("+00:00", "Z")
    meta = {"$lastUpdateTime": stamp, **{p: {"lastUpdateTime": stamp} for p in PROPS}}
    rng = random.Random(1)
    batch: list[dict[str, Any]] = []
    with store.write() as tx:
        for i in range(n_twins):
            batch.append({"tenant": "default", "id": f"s{i:06d}", "model_id": MODEL,
                          "contents": {p: rng.uniform(0, 100) for p in PROPS}, "meta": meta,
                          "etag": f'W/"seed-{i}"', "version": 1, "last_update_time": now})
            if len(batch) == 5000:
                tx.conn.execute(insert(twins), batch)
                batch = []
        if batch:
            tx.conn.execute(insert(twins), batch)
    store.dispose()
    return token


def start_server(db_url: str, port: int, profile: str, via_cli: bool) -> subprocess.Popen[str]:
    if via_cli:  # exactly `tvilling serve` (includes whatever the CLI imports at start)
        cmd = [sys.executable, "-m", "tvilling.cli.main", "serve", "--db", db_url, "--port", str(port),
               "--profile", profile]
    else:  # the platform alone, through the composition root that `tvilling serve` calls
        code = ("import sys; from tvilling.settings import load_settings; from tvilling.bootstrap import serve; "
                "serve(load_settings(db=sys.argv[1], port=int(sys.argv[2]), profile=sys.argv[3]))")
        cmd = [sys.executable, "-c", code, db_url, str(port), profile]
    env = {**os.environ, "TVILLING_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + (proc.stderr.read() if proc.stderr else ""))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else float("nan")


def _worker(kind: str, port: int, token: str, n_twins: int, seconds: float, seed_: int, out: Any) -> None:
    rng = random.Random(seed_)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    done = errors = 0
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        if t0 >= end:
            break
        twin = f"s{rng.randrange(n_twins):06d}"
        if kind == "health":
            conn.request("GET", "/health")
        elif kind == "read":
            conn.request("GET", f"/api/v1/twins/{twin}", headers=headers)
        else:
            body = json.dumps([{"op": "replace", "path": f"/{rng.choice(PROPS)}", "value": rng.uniform(0, 100)}])
            conn.request("PATCH", f"/api/v1/twins/{twin}", body=body,
                         headers={**headers, "Content-Type": "application/json-patch+json"})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status == 200:
            done += 1
        else:
            errors += 1
    out.put((done, errors, latencies))


def phase(kind: str, port: int, token: str, n_twins: int, seconds: float, clients: int) -> dict[str, float]:
    queue: Any = mp.Queue()
    procs = [mp.Process(target=_worker, args=(kind, port, token, n_twins, seconds, i, queue)) for i in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)) if lat else (lambda q: float("nan"))
    return {"per_s": round(done / seconds, 1), "errors": errors, "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--twins", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    ap.add_argument("--clients", type=int, default=4, help="client processes (keep-alive, one request in flight each)")
    ap.add_argument("--profile", choices=["durable", "fast"], default="durable")
    ap.add_argument("--via-cli", action="store_true", help="start the server with `tvilling serve` itself")
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in a temp dir)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tvilling-bench-")
    db_url = args.db or f"sqlite:///{tmp}/bench.db"
    t0 = time.perf_counter()
    token = seed(db_url, args.twins)
    seed_s = time.perf_counter() - t0
    from tests.support.services import free_port  # loopback port helper shared with the tests

    port = free_port()
    server = start_server(db_url, port, args.profile, args.via_cli)
    try:
        rss_idle = rss_mb(server.pid)
        health = phase("health", port, token, args.twins, args.seconds, args.clients)
        reads = phase("read", port, token, args.twins, args.seconds, args.clients)
        patches = phase("patch", port, token, args.twins, args.seconds, args.clients)
        rss_after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "backend": db_url.split(":", 1)[0], "profile": args.profile, "via_cli": args.via_cli, "twins": args.twins,
        "properties_per_twin": len(PROPS), "clients": args.clients, "seconds_per_phase": args.seconds,
        "seed_s": round(seed_s, 1),
        "baseline_health_per_s": health["per_s"],
        "reads_per_s": reads["per_s"], "read_p50_ms": reads["p50_ms"], "read_p99_ms": reads["p99_ms"],
        "patches_per_s": patches["per_s"], "patch_p50_ms": patches["p50_ms"], "patch_p99_ms": patches["p99_ms"],
        "errors": health["errors"] + reads["errors"] + patches["errors"],
        "server_rss_mb_idle": round(rss_idle, 1), "server_rss_mb_after": round(rss_after, 1),
        "anchor_adt_reads_per_s": 1000, "goal_reads_per_s": 5000, "goal_rss_mb": 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
