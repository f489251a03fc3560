"""``tvilling bench ingest``: raw broker->subscriber rate vs full platform ingest rate on the same stream.

Phase 1 (raw): a bare paho subscriber (QoS 1, automatic acks) receives N messages. Phase 2 (platform): the real
MQTT adapter + ingest pipeline (decode, map, quality, durable SQLite history with rollups, twin state, acks after
commit) receives the same N messages. Phase 3 (latency): messages paced at 10,000 points/s; latency is device
send time -> commit returned (the sample is queryable), same host, same clock. The publisher runs in its own
process so that it does not compete with the platform for the interpreter lock.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
import typer
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tvilling.adapters.mqtt import MqttSettings, parse_broker_url
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest import Committed, IngestPipeline
from tvilling.app.ingest_mqtt import MqttIngestService
from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError
from tvilling.quality.mapping import load_mappings


def _publish(host: str, port: int, prefix: str, n: int, k: int, devices: int, rate: float | None,
             base_ms: int) -> None:
    """Publisher process: n messages of k points round-robin over devices, QoS 1, waits for every PUBACK."""
    done = threading.Event()
    acked = [0]

    def on_publish(*_a: Any) -> None:
        acked[0] += 1
        if acked[0] >= n:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{prefix}")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.on_publish = on_publish
    c.connect(host, port)
    c.loop_start()
    t0 = time.monotonic()
    for i in range(n):
        d = i % devices
        payload = json.dumps({"device_id": f"dev{d}", "seq": i, "source_ts": base_ms + i // devices,
                              "sent": time.time(), "points": {f"p{j}": (i * 7 + j) % 1000 / 10 for j in range(k)}})
        c.publish(f"{prefix}/dev{d}/telemetry", payload, qos=1)
        if rate:
            ahead = t0 + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    done.wait(120)
    c.disconnect()
    c.loop_stop()


def _start_publisher(*args: Any) -> mp.process.BaseProcess:
    proc = mp.get_context("spawn").Process(target=_publish, args=args, daemon=True)
    proc.start()
    return proc


def _start_broker(tmp: Path) -> tuple[str, int, subprocess.Popen[bytes]]:
    import socket

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise TvillingError("mosquitto not found; install it or pass --broker mqtt://host:port")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return "127.0.0.1", port, proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise TvillingError("mosquitto did not start")


def _raw(host: str, port: int, n: int, k: int, devices: int, base_ms: int) -> float:
    got = [0]
    first = [0.0]
    last = [0.0]
    done, ready = threading.Event(), threading.Event()

    def on_message(*_a: Any) -> None:
        if got[0] == 0:
            first[0] = time.monotonic()
        got[0] += 1
        if got[0] >= n:
            last[0] = time.monotonic()
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-sub")
    c.on_message = on_message
    c.on_subscribe = lambda *_a: ready.set()
    c.connect(host, port)
    c.subscribe("raw/+/telemetry", qos=1)
    c.loop_start()
    ready.wait(10)
    pub = _start_publisher(host, port, "raw", n, k, devices, None, base_ms)
    done.wait(300)
    pub.join(60)
    c.disconnect()
    c.loop_stop()
    if got[0] < n:
        raise TvillingError(f"raw subscriber received only {got[0]} of {n} messages")
    return (n - 1) / max(last[0] - first[0], 1e-9)


async def _platform(host: str, port: int, db: Path, mappings: Path, n: int, k: int, devices: int,
                    rate: float | None, base_ms: int, prefix: str) -> dict[str, Any]:
    engine = connect_durable(f"sqlite:///{db}")
    schema.metadata.create_all(engine)
    pipeline = IngestPipeline(TimeSeriesStore(engine), load_mappings(mappings), max_batch=5000)
    latencies: list[float] = []
    marks = {"first": 0.0, "last": 0.0, "acked": 0}
    all_done = asyncio.Event()

    def on_commit(c: Committed) -> None:
        now = time.time()
        if marks["acked"] == 0:
            marks["first"] = time.monotonic()
        marks["acked"] += sum(1 for e in c.envelopes if e.ack is not None)
        if rate:
            latencies.extend(now - json.loads(e.payload)["sent"] for e in c.envelopes)
        if marks["acked"] >= n:
            marks["last"] = time.monotonic()
            all_done.set()

    pipeline.on_commit.append(on_commit)
    pipeline.start()
    svc = MqttIngestService(pipeline, MqttSettings(host=host, port=port, client_id=f"bench-platform-{prefix}",
                                                   topics=(f"{prefix}/+/telemetry",), receive_maximum=5000,
                                                   clean_start=True))
    await svc.start(wait_subscribed_s=10)
    t_first_receive = time.monotonic()
    pub = _start_publisher(host, port, prefix, n, k, devices, rate, base_ms)
    try:
        await asyncio.wait_for(all_done.wait(), timeout=600)
    finally:
        await asyncio.to_thread(pub.join, 60)
        await svc.stop()
        await pipeline.stop()
    with engine.connect() as conn:
        stored_rows = _count(conn)
    engine.dispose()
    span = max(marks["last"] - max(marks["first"], t_first_receive), 1e-9)
    latencies.sort()
    return {"msgs_per_s": (n - 1) / span, "acked": marks["acked"], "stored_rows": stored_rows,
            "p99_latency_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else None,
            "p50_latency_ms": latencies[len(latencies) // 2] * 1000 if latencies else None}


def _count(conn: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(schema.samples)).scalar_one())


def run_bench(broker: str | None, messages: int, points: int, devices: int, latency_s: float,
              latency_rate: float = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tvilling-bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        proc = None
        if broker:
            host, port = parse_broker_url(broker)
        else:
            host, port, proc = _start_broker(tmp)
        try:
            doc = {"topics": [{"topic": f"{pfx}/dev{d}/telemetry", "device": f"dev{d}", "points": [
                {"pointer": f"/points/p{j}", "twin": f"{pfx}-dev{d}", "name": f"p{j}"} for j in range(points)]}
                for pfx in ("plat", "lat") for d in range(devices)]}
            mfile = tmp / "mappings.yaml"
            mfile.write_text(yaml.safe_dump(doc))
            base_ms = int(time.time() * 1000) - 3_600_000
            raw = _raw(host, port, messages, points, devices, base_ms)
            plat = asyncio.run(_platform(host, port, tmp / "bench.db", mfile, messages, points, devices, None,
                                         base_ms, "plat"))
            rate = latency_rate / points  # messages per second for the paced phase
            lat_n = max(int(rate * latency_s), 10)
            lat = asyncio.run(_platform(host, port, tmp / "latency.db", mfile, lat_n, points, devices, rate,
                                        base_ms, "lat"))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(5)
    stored = plat["stored_rows"] // points
    return {"raw_msgs_per_s": round(raw, 1), "msgs_per_s": round(plat["msgs_per_s"], 1),
            "points_per_s": round(plat["msgs_per_s"] * points, 1), "ratio": round(plat["msgs_per_s"] / raw, 3),
            "p99_latency_ms": lat["p99_latency_ms"] and round(lat["p99_latency_ms"], 2),
            "p50_latency_ms": lat["p50_latency_ms"] and round(lat["p50_latency_ms"], 2),
            "latency_rate_points_per_s": latency_rate, "acked": plat["acked"], "stored": stored,
            "lost": messages - stored, "messages": messages, "points_per_message": points}


def ingest(
    broker: Annotated[str | None, typer.Option(help="mqtt://host:port; default: start a local mosquitto")] = None,
    messages: Annotated[int, typer.Option(min=100, help="messages per throughput phase")] = 20_000,
    points_per_message: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    devices: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    latency_seconds: Annotated[float, typer.Option(min=1.0, help="duration of the paced latency phase")] = 5.0,
    latency_rate: Annotated[float, typer.Option(min=10.0, help="points/s in the paced latency phase")] = 10_000,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Measure the raw broker rate and the full platform ingest rate on the same MQTT stream."""
    try:
        result = run_bench(broker, messages, points_per_message, devices, latency_seconds, latency_rate)
    except (TvillingError, OSError) as exc:
        fail(str(exc))
    if json_out:
        emit_json(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
