"""``tvilling bench ingest``: raw broker->subscriber rate vs full platform ingest rate on the same stream.

How it stays honest on a small shared machine:
- **Same stream, same subscriber stack.** The throughput phases drain the same N messages (identical bytes and
  topics) through the same MQTT adapter (``adapters.mqtt.MqttSource``: paho, MQTT 5, manual acks, the same
  Receive Maximum). The raw phase acknowledges each message on arrival and does nothing else; the platform phase
  runs the real pipeline (decode, map, quality rules, durable SQLite history with rollups, twin state) and
  acknowledges after commit. Raw and platform phases alternate (raw, platform, raw, platform) and each side
  counts the better of its two phases: the same estimator on both sides, so a phase starved by the host neither
  flatters nor understates the ratio. Every phase's rate is in the JSON (``raw_runs_msgs_per_s``,
  ``platform_runs_msgs_per_s``), and ``lost`` is the worst platform phase's.
- **The publisher does not compete.** For the throughput phases the stream is published *before* the subscriber
  connects: its persistent session is created first, then the broker queues all N messages for it, and the rate
  is measured while the subscriber drains that backlog (first message -> last ack). So the figure is the
  subscriber's capacity, not a race with a publisher process for the same two cores.
- **Latency at a fixed offered rate, separately.** A paced publisher (own process) sends ``latency_rate``
  points/s while the platform runs; latency is device send time -> commit returned (queryable), same host clock.
  Messages sent in the first second are start-up and reported apart (``warmup_max_latency_ms``).
- **The platform's MQTT receiver** is its default (``process``: paho in a child process); ``--receiver thread``
  measures paho on a thread of the platform process.
- **Same interpreter settings.** The collector thresholds that ``tvilling serve`` uses (``app.runtime``) are set for
  the whole benchmark process, raw phases included.
- The load average (1/5/15 min) at the start and the end is part of the result: other work on the machine
  changes every figure, so each run says how loaded it was.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
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

from tvilling.adapters.mqtt import Ack, MqttSettings, MqttSource, parse_broker_url
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest import Committed, IngestPipeline
from tvilling.app.ingest_mqtt import MqttIngestService, Receiver
from tvilling.app.runtime import freeze_startup_heap, tune_collector
from tvilling.app.wal_checkpoint import checkpoint_loop
from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError
from tvilling.quality.mapping import load_mappings

# The paced phase's first second is start-up (first statements compiled, caches cold): its latencies are reported
# apart (``warmup_max_latency_ms``), the percentiles describe the steady stream that the goal is about.
WARMUP_S = 1.0
RECEIVE_MAXIMUM = 5000  # both phases: what the broker may have in flight to the subscriber
PREFIX = "bench"


def _payload(i: int, k: int, devices: int, base_ms: int, sent: float) -> tuple[str, bytes]:
    d = i % devices
    doc = {"device_id": f"dev{d}", "seq": i, "source_ts": base_ms + i // devices, "sent": sent,
           "points": {f"p{j}": (i * 7 + j) % 1000 / 10 for j in range(k)}}
    return f"{PREFIX}/dev{d}/telemetry", json.dumps(doc).encode()


def _publish(host: str, port: int, n: int, k: int, devices: int, rate: float | None, base_ms: int,
             first: int) -> None:
    """Publisher process: messages ``first .. first+n-1``, QoS 1; returns once the broker acked every one.
    Paced at ``rate`` messages/s when given (the send time goes into the payload), else as fast as it can."""
    done = threading.Event()
    acked = [0]

    def on_publish(*_a: Any) -> None:
        acked[0] += 1
        if acked[0] >= n:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.on_publish = on_publish
    c.connect(host, port)
    c.loop_start()
    t0 = time.monotonic()
    for i in range(first, first + n):
        if rate:
            ahead = t0 + (i - first) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        topic, payload = _payload(i, k, devices, base_ms, time.time() if rate else 0.0)
        c.publish(topic, payload, qos=1)
    done.wait(300)
    c.disconnect()
    c.loop_stop()


def _start_publisher(*args: Any) -> mp.process.BaseProcess:
    proc = mp.get_context("spawn").Process(target=_publish, args=args, daemon=True)
    proc.start()
    return proc


def _prefill(host: str, port: int, client_id: str, n: int, k: int, devices: int, base_ms: int) -> None:
    """Create ``client_id``'s persistent session (subscribe, disconnect), then have the broker queue the stream."""
    src = MqttSource(_settings(host, port, client_id), lambda _t, _p, ack: None)
    src.start()
    try:
        if not src.wait_subscribed(10):
            raise TvillingError(f"could not subscribe at {host}:{port}")
    finally:
        src.stop()
    pub = _start_publisher(host, port, n, k, devices, None, base_ms, 0)
    pub.join(300)
    if pub.exitcode != 0:
        raise TvillingError("the benchmark publisher failed")


def _settings(host: str, port: int, client_id: str) -> MqttSettings:
    return MqttSettings(host=host, port=port, client_id=client_id, topics=(f"{PREFIX}/+/telemetry",),
                        receive_maximum=RECEIVE_MAXIMUM, clean_start=False, session_expiry_s=600)


def write_mappings(path: Path, devices: int, points: int) -> Path:
    """The benchmark stream's mapping file: ``devices`` topics of ``points`` readings each, one twin per device."""
    doc = {"topics": [{"topic": f"{PREFIX}/dev{d}/telemetry", "device": f"dev{d}", "points": [
        {"pointer": f"/points/p{j}", "twin": f"{PREFIX}-dev{d}", "name": f"p{j}"} for j in range(points)]}
        for d in range(devices)]}
    path.write_text(yaml.safe_dump(doc))
    return path


def _start_broker(tmp: Path) -> tuple[str, int, subprocess.Popen[bytes]]:
    import socket

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise TvillingError("mosquitto not found; install it or pass --broker mqtt://host:port")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = tmp / "mosquitto.conf"
    # max_queued_messages 0: no limit, so the whole prefilled stream waits for the offline subscriber.
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


def _raw(host: str, port: int, n: int, k: int, devices: int, base_ms: int, run: int) -> float:
    """The bare subscriber: the same adapter, acking each message on arrival; messages/s over the drain."""
    client_id = f"bench-raw-{os.getpid()}-{run}"
    _prefill(host, port, client_id, n, k, devices, base_ms)
    got = [0]
    marks = [0.0, 0.0]
    done = threading.Event()

    def on_message(_topic: str, _payload: bytes, ack: Ack) -> None:
        if got[0] == 0:
            marks[0] = time.monotonic()
        ack()
        got[0] += 1
        if got[0] >= n:
            marks[1] = time.monotonic()
            done.set()

    src = MqttSource(_settings(host, port, client_id), on_message)
    src.start()
    try:
        done.wait(300)
    finally:
        src.stop()
    if got[0] < n:
        raise TvillingError(f"raw subscriber received only {got[0]} of {n} messages")
    return (n - 1) / max(marks[1] - marks[0], 1e-9)


async def _platform(host: str, port: int, db: Path, mappings: Path, n: int, k: int, devices: int,
                    rate: float | None, base_ms: int, receiver: Receiver, run: int = 1) -> dict[str, Any]:
    """The full platform on the same stream: prefilled (``rate`` None) or paced live at ``rate`` messages/s."""
    client_id = f"bench-platform-{os.getpid()}-{'live' if rate else 'drain'}-{run}"
    if rate is None:
        await asyncio.to_thread(_prefill, host, port, client_id, n, k, devices, base_ms)
    engine = connect_durable(f"sqlite:///{db}")
    schema.metadata.create_all(engine)
    pipeline = IngestPipeline(TimeSeriesStore(engine), load_mappings(mappings), max_batch=5000)
    latencies: list[float] = []
    arrivals: list[float] = []  # device send -> the platform's MQTT thread had it (broker + client transport)
    warmup: list[float] = []  # messages sent in the first WARMUP_S of the paced phase: reported apart
    marks = {"first": 0.0, "last": 0.0, "acked": 0}
    all_done = asyncio.Event()

    def on_commit(c: Committed) -> None:
        now = time.time()
        if c.envelopes and not marks["first"]:  # the span starts when the first message arrived (wall clock)
            marks["first"] = min(e.received_at_us for e in c.envelopes) / 1e6
        marks["acked"] += sum(1 for e in c.envelopes if e.ack is not None)
        if rate:
            for e in c.envelopes:
                doc = json.loads(e.payload)
                sent = doc["sent"]
                if doc["seq"] - n < rate * WARMUP_S:
                    warmup.append(now - sent)
                    continue
                latencies.append(now - sent)
                arrivals.append(e.received_at_us / 1e6 - sent)
        if marks["acked"] >= n:
            marks["last"] = now
            all_done.set()

    pipeline.on_commit.append(on_commit)
    freeze_startup_heap()  # as the platform does once started (bootstrap)
    pipeline.start()
    checkpoints = asyncio.create_task(checkpoint_loop(engine))  # as the platform does (bootstrap.BACKGROUND)
    svc = MqttIngestService(pipeline, _settings(host, port, client_id), receiver=receiver)
    await svc.start(wait_subscribed_s=10)
    pub = _start_publisher(host, port, n, k, devices, rate, base_ms, n) if rate else None
    try:
        await asyncio.wait_for(all_done.wait(), timeout=600)
    finally:
        if pub is not None:
            await asyncio.to_thread(pub.join, 60)
        await svc.stop()
        await pipeline.stop()
        checkpoints.cancel()
    with engine.connect() as conn:
        stored_rows = int(conn.execute(sa.select(sa.func.count()).select_from(schema.raw_samples())).scalar_one())
    engine.dispose()
    span = max(marks["last"] - marks["first"], 1e-9)
    latencies.sort()
    arrivals.sort()
    return {"warmup_max_latency_ms": max(warmup) * 1000 if warmup else None,
            "arrival_p50_ms": arrivals[len(arrivals) // 2] * 1000 if arrivals else None,
            "arrival_p99_ms": arrivals[int(0.99 * (len(arrivals) - 1))] * 1000 if arrivals else None,
            "msgs_per_s": (n - 1) / span, "acked": marks["acked"], "stored_rows": stored_rows,
            "batches": pipeline.stats.batches,
            "p99_latency_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else None,
            "p50_latency_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
            "max_latency_ms": latencies[-1] * 1000 if latencies else None}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_bench(broker: str | None, messages: int, points: int, devices: int, latency_s: float,
              latency_rate: float = 10_000, receiver: Receiver = "process") -> dict[str, Any]:
    load_start = _load()
    # The platform's collector settings (app.runtime) apply to the whole run, so the bare-subscriber baseline gets
    # the same interpreter the platform phase gets.
    tune_collector()
    with tempfile.TemporaryDirectory(prefix="tvilling-bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        proc = None
        if broker:
            host, port = parse_broker_url(broker)
        else:
            host, port, proc = _start_broker(tmp)
        try:
            mfile = write_mappings(tmp / "mappings.yaml", devices, points)
            base_ms = int(time.time() * 1000) - 3_600_000
            # Raw and platform phases alternate (raw, platform, raw, platform) and each side counts its better
            # phase: on a shared machine the host's speed moves by tens of percent between seconds, and the best
            # of equally many tries estimates each side's speed without favouring either (a starved raw phase
            # would flatter the ratio, a starved platform phase would understate it).
            raw_runs: list[float] = []
            plat_runs: list[dict[str, Any]] = []
            for run in (1, 2):
                raw_runs.append(_raw(host, port, messages, points, devices, base_ms, run))
                plat_runs.append(asyncio.run(_platform(host, port, tmp / f"bench{run}.db", mfile, messages, points,
                                                       devices, None, base_ms, receiver, run)))
            raw = max(raw_runs)
            plat = max(plat_runs, key=lambda p: float(p["msgs_per_s"]))
            rate = latency_rate / points  # messages per second in the paced phase
            lat_n = max(int(rate * latency_s), 10)
            lat = asyncio.run(_platform(host, port, tmp / "latency.db", mfile, lat_n, points, devices, rate,
                                        base_ms, receiver))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(5)
    stored = plat["stored_rows"] // points

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {"raw_msgs_per_s": round(raw, 1), "msgs_per_s": round(plat["msgs_per_s"], 1),
            "points_per_s": round(plat["msgs_per_s"] * points, 1), "ratio": round(plat["msgs_per_s"] / raw, 3),
            "p99_latency_ms": ms(lat["p99_latency_ms"]), "acked": plat["acked"], "stored": stored,
            "lost": max(messages - p["stored_rows"] // points for p in plat_runs),
            # extras
            "raw_points_per_s": round(raw * points, 1), "raw_runs_msgs_per_s": [round(r, 1) for r in raw_runs],
            "platform_runs_msgs_per_s": [round(p["msgs_per_s"], 1) for p in plat_runs],
            "platform_lost_per_run": [messages - p["stored_rows"] // points for p in plat_runs],
            "p50_latency_ms": ms(lat["p50_latency_ms"]),
            "arrival_p50_ms": ms(lat["arrival_p50_ms"]), "arrival_p99_ms": ms(lat["arrival_p99_ms"]),
            "warmup_s": WARMUP_S, "warmup_max_latency_ms": ms(lat["warmup_max_latency_ms"]),
            "max_latency_ms": ms(lat["max_latency_ms"]), "latency_rate_points_per_s": latency_rate,
            "latency_messages": lat_n, "latency_lost": lat_n - lat["stored_rows"] // points,
            "messages": messages, "points_per_message": points, "receiver": receiver, "batches": plat["batches"],
            "load_avg_start": load_start, "load_avg_end": _load(), "cpus": os.cpu_count()}


def ingest(
    broker: Annotated[str | None, typer.Option(
        help="mqtt://host:port (MQTT 5; must queue --messages QoS 1 messages for an offline session); "
             "default: start a local mosquitto")] = None,
    messages: Annotated[int, typer.Option(min=100, help="messages per throughput phase")] = 20_000,
    points_per_message: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    devices: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    latency_seconds: Annotated[float, typer.Option(
        min=2.0, help="duration of the paced latency phase (its first second is reported as warm-up)")] = 10.0,
    latency_rate: Annotated[float, typer.Option(min=10.0, help="points/s in the paced latency phase")] = 10_000,
    receiver: Annotated[str, typer.Option(
        help="process: paho in a child process (the platform default); thread: paho on a thread of the "
             "platform process")] = "process",
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Measure the raw broker rate and the full platform ingest rate on the same MQTT stream."""
    try:
        if receiver not in ("process", "thread"):
            raise TvillingError(f"--receiver must be 'process' or 'thread', not {receiver!r}")
        result = run_bench(broker, messages, points_per_message, devices, latency_seconds, latency_rate,
                           "process" if receiver == "process" else "thread")
    except (TvillingError, OSError) as exc:
        fail(str(exc))
    if json_out:
        emit_json(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
