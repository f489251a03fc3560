"""HTTP API throughput and memory: twin reads/s and JSON-Patch updates/s through one `tvilling serve` process.

The server runs as a subprocess (uvicorn with uvloop + httptools on loopback, durable profile by default). Load
comes from separate client processes, each driving many keep-alive connections with a minimal asyncio HTTP/1.1
client (one request in flight per connection, ~20 us of client CPU per request), so the clients leave the server as
much of this 2-core machine as possible. Baseline in the same run: GET /health (no auth; one SELECT 1 in a worker
thread) from the same clients. Besides requests/s, the server's own CPU time per request is reported (from
/proc/<pid>/stat): on a shared machine it is steadier than the rate. The 1-minute load average is printed at start
and end. Anchor: Azure Digital Twins' documented default of 1,000 API reads/s and 1,000 patches/s per instance.
Rate limits are raised explicitly for the run (they are on by default).

Prints one JSON object.

    .venv/bin/python bench/bench_api.py                       # 100k twins x 10 properties, 10 s per phase
    .venv/bin/python bench/bench_api.py --twins 10000 --seconds 5
    .venv/bin/python bench/bench_api.py --db postgresql://postgres@127.0.0.1:PORT/DB
"""

from __future__ import annotations

import argparse
import asyncio
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
    # Rate limits are on by default; a benchmark raises them explicitly (the check itself stays in the path).
    env = {**os.environ, "TVILLING_LOG_LEVEL": "warning", "TVILLING_RATE_LIMIT_TOKEN_PER_S": "1e9",
           "TVILLING_RATE_LIMIT_TOKEN_BURST": "1000000000", "TVILLING_RATE_LIMIT_ANONYMOUS_PER_S": "1e9",
           "TVILLING_RATE_LIMIT_ANONYMOUS_BURST": "1000000000"}
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


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def load_1m() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def _connection(kind: str, port: int, token: str, n_twins: int, end: float, rng: random.Random,
                      latencies: list[float], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n"
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            twin = f"s{rng.randrange(n_twins):06d}"
            if kind == "health":
                request = b"GET /health HTTP/1.1\r\nHost: b\r\n\r\n"
            elif kind == "read":
                request = f"GET /api/v1/twins/{twin} HTTP/1.1\r\nHost: b\r\n{auth}\r\n".encode()
            else:
                body = json.dumps([{"op": "replace", "path": f"/{rng.choice(PROPS)}",
                                    "value": rng.uniform(0, 100)}]).encode()
                request = (f"PATCH /api/v1/twins/{twin} HTTP/1.1\r\nHost: b\r\n{auth}"
                           f"Content-Type: application/json-patch+json\r\nContent-Length: {len(body)}\r\n\r\n"
                           ).encode() + body
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            counts[0 if status == 200 else 1] += 1
    finally:
        writer.close()


def _worker(kind: str, port: int, token: str, n_twins: int, seconds: float, connections: int, seed_: int,
            out: Any) -> None:
    import uvloop

    async def run() -> tuple[int, int, list[float]]:
        latencies: list[float] = []
        counts = [0, 0]
        end = time.perf_counter() + seconds
        await asyncio.gather(*(_connection(kind, port, token, n_twins, end, random.Random(seed_ * 1000 + i),
                                           latencies, counts) for i in range(connections)))
        return counts[0], counts[1], latencies

    t0 = time.process_time()
    done, errors, latencies = uvloop.run(run())
    out.put((done, errors, latencies, time.process_time() - t0))


def phase(kind: str, port: int, token: str, n_twins: int, seconds: float, clients: int, connections: int,
          server_pid: int) -> dict[str, float]:
    queue: Any = mp.Queue()
    procs = [mp.Process(target=_worker, args=(kind, port, token, n_twins, seconds, connections, i, queue))
             for i in range(clients)]
    cpu0 = cpu_s(server_pid)
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    server_cpu = cpu_s(server_pid) - cpu0
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)) if lat else (lambda q: float("nan"))
    return {"per_s": round(done / seconds, 1), "errors": errors, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "server_cpu_us": round(server_cpu / max(1, done + errors) * 1e6),
            "client_cpu_us": round(sum(r[3] for r in results) / max(1, done + errors) * 1e6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--twins", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--connections", type=int, default=16,
                    help="keep-alive connections per client process, one request in flight each")
    ap.add_argument("--profile", choices=["durable", "fast"], default="durable")
    ap.add_argument("--via-cli", action="store_true", help="start the server with `tvilling serve` itself")
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in a temp dir)")
    args = ap.parse_args()

    load_start = load_1m()
    tmp = tempfile.mkdtemp(prefix="tvilling-bench-")
    db_url = args.db or f"sqlite:///{tmp}/bench.db"
    t0 = time.perf_counter()
    token = seed(db_url, args.twins)
    seed_s = time.perf_counter() - t0
    from tests.support.services import free_port  # loopback port helper shared with the tests

    port = free_port()
    server = start_server(db_url, port, args.profile, args.via_cli)
    load = (args.twins, args.seconds, args.clients, args.connections, server.pid)
    try:
        rss_idle = rss_mb(server.pid)
        health = phase("health", port, token, *load)
        reads = phase("read", port, token, *load)
        patches = phase("patch", port, token, *load)
        rss_after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "backend": db_url.split(":", 1)[0], "profile": args.profile, "via_cli": args.via_cli, "twins": args.twins,
        "properties_per_twin": len(PROPS), "clients": args.clients, "connections_per_client": args.connections,
        "seconds_per_phase": args.seconds, "seed_s": round(seed_s, 1),
        "load_avg_1m_start": load_start, "load_avg_1m_end": load_1m(),
        "baseline_health_per_s": health["per_s"], "health_p50_ms": health["p50_ms"],
        "health_server_cpu_us": health["server_cpu_us"],
        "reads_per_s": reads["per_s"], "read_p50_ms": reads["p50_ms"], "read_p99_ms": reads["p99_ms"],
        "read_server_cpu_us": reads["server_cpu_us"], "read_client_cpu_us": reads["client_cpu_us"],
        "patches_per_s": patches["per_s"], "patch_p50_ms": patches["p50_ms"], "patch_p99_ms": patches["p99_ms"],
        "patch_server_cpu_us": patches["server_cpu_us"],
        "errors": health["errors"] + reads["errors"] + patches["errors"],
        "server_rss_mb_idle": round(rss_idle, 1), "server_rss_mb_after": round(rss_after, 1),
        "anchor_adt_reads_per_s": 1000, "anchor_adt_patches_per_s": 1000, "goal_reads_per_s": 5000,
        "goal_rss_mb": 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
