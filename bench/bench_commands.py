"""Command round trip: POST /api/v1/twins/{id}/commands/{name} -> MQTT -> device ack -> state ``acked``, plain and
guarded, and kill-switch latency under an autonomous command loop; one JSON object on stdout.

A device on a local Mosquitto answers every command at once (on the ack topic and the MQTT 5 response topic, as
the virtual plant does, but without physics, so the figure is the platform's cost). Baseline in the same run:
the bare MQTT 5 request/response round trip to the same device with a paho client (publish with response topic,
wait for the answer). Commands are sent one after another; the platform figure is from the POST until the
``command.acked`` event is published (three durable SQLite commits: requested, sent, acked). Plain (``dev-1``) and
guarded (``dev-g``: slew limit that always passes, rate 10 000/min, one interlock on a fresh Good property) commands
alternate, so load from other jobs falls on both alike.

Kill switch: a background thread sends ``--ks-rate`` commands/s through the API, round robin to ``--ks-twins``
twins, for ``--ks-seconds`` plus a random part of one tick (so the engage falls at any phase of the loop); then
``POST /api/v1/killswitch {"scope": "*"}``; the loop goes on for 1 s (every command must now be refused, 409), then
the switch is released. Repeated ``--ks-cycles`` times. The device records when each command arrives, so "last
arrival" is what the device saw, not what the server believes; ``canceled_but_arrived`` lists commands the server
recorded as canceled although the device got them.

    .venv/bin/python bench/bench_commands.py [--commands 200] [--profile durable|fast] [--ks-cycles 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr

from tvilling.bootstrap import build_platform
from tvilling.core.context import Context
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.settings import Settings

TOPIC = "bench/dev-1/commands"
GUARDED_TOPIC = "bench/dev-g/commands"
DEVICE_TOPICS = "bench/+/commands"  # one device client stands for every twin's device (dev-1, dev-g, ks-*)
MODEL = {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Dev;1", "@type": "Interface", "contents": [
    {"@type": "Command", "name": "set", "request": {"@type": "CommandRequest", "name": "v", "schema": "double"}},
    {"@type": "Property", "name": "setpoint", "schema": "double", "writable": True},
    {"@type": "Property", "name": "ready", "schema": "boolean"}]}
GUARD = {"property": "setpoint", "max_step": 1e9, "rate_per_min": 10_000,
         "interlocks": [{"property": "ready", "max_age_s": 3600, "reason": "no fresh ready signal"}]}
KS_AFTER_S = 1.0  # the loop keeps sending this long after the engage call returned (each must be refused)
KS_SETTLE_S = 0.5  # then late arrivals at the device are awaited this long
Receipts = list[tuple[float, str]]  # (perf_counter when the device got it, command id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto(tmp: Path) -> tuple[int, subprocess.Popen[bytes]]:
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n")
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return port, proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("error: mosquitto did not start")


def _no_delay(client: mqtt.Client, *_a: Any) -> None:
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _device(port: int, received: Receipts) -> mqtt.Client:
    """Answers every command at once, like the plant: ack topic + response topic with the correlation data.
    Notes in ``received`` when each command arrived."""
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-device", protocol=mqtt.MQTTv5)

    def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        at = time.perf_counter()
        body = json.loads(msg.payload)
        received.append((at, str(body.get("command_id"))))
        answer = json.dumps({"command_id": body.get("command_id"), "status": "applied", "value": body.get("value")})
        client.publish(msg.topic + "/ack", answer, qos=1)
        p: Any = msg.properties
        if p is not None and getattr(p, "ResponseTopic", None):
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.CorrelationData = p.CorrelationData
            client.publish(p.ResponseTopic, answer, qos=1, properties=props)

    dev.on_message = on_message
    dev.on_connect = _no_delay  # both ends of both round trips without Nagle: the figures compare like with like
    dev.connect("127.0.0.1", port)
    dev.subscribe(DEVICE_TOPICS, qos=1)
    dev.loop_start()
    return dev


def _stats(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(q[98], 2), "max_ms": round(max(ms), 2)}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def baseline(port: int, n: int) -> list[float]:
    got = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=mqtt.MQTTv5)
    c.on_message = lambda *_a: got.set()
    c.on_connect = _no_delay
    c.connect("127.0.0.1", port)
    c.subscribe("bench/baseline-responses", qos=1)
    c.loop_start()
    time.sleep(0.3)
    out = []
    for i in range(n):
        got.clear()
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "bench/baseline-responses"
        props.CorrelationData = f"b{i}".encode()
        t0 = time.perf_counter()
        c.publish(TOPIC, json.dumps({"command_id": f"b{i}", "command": "set", "value": 1.0}), qos=1,
                  properties=props)
        if not got.wait(10):
            raise SystemExit("error: the device did not answer the baseline request")
        out.append((time.perf_counter() - t0) * 1000)
    c.loop_stop()
    c.disconnect()
    return out


def _round_trips(client: TestClient, headers: dict[str, str], acked: dict[str, threading.Event],
                 n: int) -> tuple[list[float], list[float]]:
    """``n`` plain (dev-1) and ``n`` guarded (dev-g) commands, alternating which goes first."""
    out: dict[str, list[float]] = {"dev-1": [], "dev-g": []}
    for i in range(n):
        for twin in ("dev-1", "dev-g") if i % 2 == 0 else ("dev-g", "dev-1"):
            cid = f"{twin}-{i}"
            done = acked.setdefault(cid, threading.Event())
            t0 = time.perf_counter()
            r = client.post(f"/api/v1/twins/{twin}/commands/set", params={"commandId": cid}, json=float(i),
                            headers=headers)
            if r.status_code != 202 or not done.wait(10):
                raise SystemExit(f"error: command {cid} not acked ({r.status_code} {r.text[:200]})")
            out[twin].append((time.perf_counter() - t0) * 1000)
    return out["dev-1"], out["dev-g"]


def _kill_switch_cycle(client: TestClient, op: dict[str, str], eng: dict[str, str], cycle: int, twins: list[str],
                       rate: float, seconds: float, received: Receipts, canceled: set[str]) -> dict[str, Any]:
    """One autonomous-loop / engage / release cycle; times relative to the start of the engage call."""
    prefix = f"k{cycle}-"
    posts: list[tuple[float, float, int, str]] = []  # (start, end, status, command id)
    stop = threading.Event()

    def loop() -> None:
        t0 = time.perf_counter()
        n = 0
        while not stop.is_set():
            cid = f"{prefix}{n}"
            a = time.perf_counter()
            r = client.post(f"/api/v1/twins/{twins[n % len(twins)]}/commands/set", params={"commandId": cid},
                            json=float(n), headers=op)
            posts.append((a, time.perf_counter(), r.status_code, cid))
            n += 1
            stop.wait(max(0.0, t0 + n / rate - time.perf_counter()))

    thread = threading.Thread(target=loop, name="autonomous-loop", daemon=True)
    thread.start()
    time.sleep(seconds + random.Random(cycle).uniform(0, 1 / rate))  # engage at any phase of the loop's tick
    e0 = time.perf_counter()
    r = client.post("/api/v1/killswitch", json={"scope": "*", "reason": "bench"}, headers=op)
    e1 = time.perf_counter()
    if r.status_code != 200:
        raise SystemExit(f"error: engaging the kill switch answered {r.status_code} {r.text[:200]}")
    time.sleep(KS_AFTER_S)
    stop.set()
    thread.join()
    time.sleep(KS_SETTLE_S)
    r0 = time.perf_counter()
    rel = client.delete("/api/v1/killswitch", params={"scope": "*"}, headers=eng)
    r1 = time.perf_counter()
    if rel.status_code != 200:
        raise SystemExit(f"error: releasing the kill switch answered {rel.status_code} {rel.text[:200]}")
    arrivals = {cid: at for at, cid in list(received) if cid.startswith(prefix)}
    post_of = {cid: (a, b, status) for a, b, status, cid in posts}
    after = [p for p in posts if p[0] >= e1]
    bad = [p for p in posts if p[2] not in (202, 409)]
    if bad:
        raise SystemExit(f"error: command {bad[0][3]} answered {bad[0][2]}")
    if not arrivals:
        raise SystemExit(f"error: no command of cycle {cycle} reached the device")

    def ms(t: float) -> float:
        return round((t - e0) * 1000, 2)

    def timeline(cid: str) -> dict[str, Any]:
        return {"cycle": cycle, "commandId": cid, "postStartMs": ms(post_of[cid][0]), "postEndMs": ms(post_of[cid][1]),
                "arrivedMs": ms(arrivals[cid]), "engageMs": ms(e1)}

    # Final state of every accepted command; a cancel by the engage call and one at dispatch differ in reason.
    states: dict[str, int] = {}
    how: dict[str, str] = {}
    for cid, (_a, _b, status) in post_of.items():
        if status == 202:
            got = client.get(f"/api/v1/commands/{cid}", headers=op).json()
            state = got["state"]
            if state == "canceled":
                state = how[cid] = ("canceled_by_engage" if str(got.get("reason", "")).startswith("kill switch")
                                    else "canceled_at_dispatch")
            states[state] = states.get(state, 0) + 1
    late = [timeline(cid) for cid, at in sorted(arrivals.items(), key=lambda x: x[1]) if at > e1]
    before = [p for p in posts if p[1] <= e0]
    return {"engage_ms": (e1 - e0) * 1000, "release_ms": (r1 - r0) * 1000,
            "last_arrival_after_engage_start_ms": (max(arrivals.values()) - e0) * 1000,
            "posted": len(posts), "loop_rate_per_s": (len(before) - 1) / (before[-1][0] - before[0][0]) if
            len(before) > 1 else 0.0,
            "accepted_after_engage": sum(p[2] == 202 for p in after),
            "refused_after_engage": sum(p[2] == 409 for p in after),
            "accepted_across_engage": sum(p[2] == 202 and p[0] < e1 and p[1] > e0 for p in posts),
            "arrived_after_engage_start": sum(at > e0 for at in arrivals.values()),
            "arrived_after_engage_returned": len(late), "late": late,
            "engage_response_canceled": int(r.json()["canceled"]),
            "canceled": sum(cid.startswith(prefix) for cid in canceled),
            "final_states": states,
            "canceled_but_arrived": [{**timeline(cid), "canceled": how.get(cid, "?")} for cid in arrivals
                                     if cid in canceled]}


def _kill_switch(client: TestClient, op: dict[str, str], eng: dict[str, str], args: argparse.Namespace,
                 received: Receipts, canceled: set[str]) -> dict[str, Any]:
    twins = [f"ks-{k}" for k in range(1, args.ks_twins + 1)]
    cycles = [_kill_switch_cycle(client, op, eng, c, twins, args.ks_rate, args.ks_seconds, received, canceled)
              for c in range(args.ks_cycles)]
    last = [c["last_arrival_after_engage_start_ms"] for c in cycles]
    return {"cycles": args.ks_cycles, "twins": args.ks_twins, "rate_per_s": args.ks_rate,
            "loop_seconds": args.ks_seconds, "loop_rate_per_s": _spread([c["loop_rate_per_s"] for c in cycles]),
            "posted": sum(c["posted"] for c in cycles),
            "engage_ms": _spread([c["engage_ms"] for c in cycles]),
            "release_ms": _spread([c["release_ms"] for c in cycles]),
            "last_arrival_after_engage_start_ms": _spread(last),
            "stopped_within_1s": max(last) <= 1000.0,
            **{k: sum(c[k] for c in cycles) for k in ("accepted_after_engage", "refused_after_engage",
                                                      "accepted_across_engage", "arrived_after_engage_start",
                                                      "arrived_after_engage_returned")},
            "engage_response_canceled": [c["engage_response_canceled"] for c in cycles],
            "canceled": [c["canceled"] for c in cycles],
            "final_states": {k: sum(c["final_states"].get(k, 0) for c in cycles)
                             for k in sorted({k for c in cycles for k in c["final_states"]})},
            "late_arrivals": [x for c in cycles for x in c["late"]][:20],
            "canceled_but_arrived": [x for c in cycles for x in c["canceled_but_arrived"]][:20]}


def platform_runs(port: int, tmp: Path, args: argparse.Namespace,
                  received: Receipts) -> tuple[list[float], list[float], dict[str, Any]]:
    ks_twins = [f"ks-{k}" for k in range(1, args.ks_twins + 1)]
    rows: list[dict[str, Any]] = [
        {"twin": "dev-1", "command": "set", "transport": "mqtt", "topic": TOPIC},
        {"twin": "dev-g", "command": "set", "transport": "mqtt", "topic": GUARDED_TOPIC, "guard": GUARD},
        *({"twin": t, "command": "set", "transport": "mqtt", "topic": f"bench/{t}/commands"} for t in ks_twins)]
    mapping = tmp / "commands.yaml"
    mapping.write_text(yaml.safe_dump({"tenant": "default", "commands": rows}))
    platform = build_platform(Settings(db=SecretStr(f"sqlite:///{tmp / 'bench.db'}"), profile=args.profile,
                                       mqtt_url=f"mqtt://127.0.0.1:{port}", commands_file=mapping,
                                       mqtt_client_id="bench-ingest"), announce=lambda _t: None, dashboard=False)
    svc = platform.services
    ctx = Context.new("bench")
    svc.models.upload("default", [MODEL], ctx)
    for twin in ["dev-1", *ks_twins]:
        svc.twins.put("default", twin, {"$metadata": {"$model": "dtmi:bench:Dev;1"}}, ctx)
    # The guard's property and the interlock's property have values (fresh, Good) before the run.
    svc.twins.put("default", "dev-g", {"$metadata": {"$model": "dtmi:bench:Dev;1"}, "setpoint": 0.0,
                                       "ready": True}, ctx)
    op = {"Authorization": f"Bearer {svc.tokens.create('default', Role.OPERATOR, 'bench').token}"}
    eng = {"Authorization": f"Bearer {svc.tokens.create('default', Role.ENGINEER, 'bench-eng').token}"}
    acked: dict[str, threading.Event] = {}
    canceled: set[str] = set()

    def on_event(e: Event) -> None:
        if e.kind == "command.acked":
            acked.setdefault(e.data["commandId"], threading.Event()).set()
        elif e.kind == "command.canceled":
            canceled.add(e.data["commandId"])

    svc.bus.listen(on_event)
    try:
        with TestClient(platform.app) as client:
            time.sleep(0.5)  # the transport's subscriptions are in place
            plain, guarded = _round_trips(client, op, acked, args.commands)
            ks = _kill_switch(client, op, eng, args, received, canceled) if args.ks_cycles else {}
    finally:
        platform.close()
    return plain, guarded, ks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commands", type=int, default=200, help="plain and as many guarded commands")
    ap.add_argument("--profile", choices=["durable", "fast"], default="durable")  # Settings.profile
    ap.add_argument("--ks-cycles", type=int, default=5, help="engage/release cycles (0: no kill-switch part)")
    ap.add_argument("--ks-twins", type=int, default=5)
    ap.add_argument("--ks-rate", type=float, default=10.0, help="commands/s of the autonomous loop")
    ap.add_argument("--ks-seconds", type=float, default=3.0, help="loop time before each engage")
    args = ap.parse_args()
    received: Receipts = []
    with tempfile.TemporaryDirectory(prefix="tvl-bench-cmd-") as d:
        tmp = Path(d)
        port, proc = _mosquitto(tmp)
        dev = _device(port, received)
        try:
            base = baseline(port, args.commands)
            plat, guarded, ks = platform_runs(port, tmp, args, received)
        finally:
            dev.loop_stop()
            dev.disconnect()
            proc.terminate()
            proc.wait(5)
    print(json.dumps({"benchmark": "commands", "commands": args.commands, "profile": args.profile,
                      "cpu_count": os.cpu_count(), "platform_post_to_acked": _stats(plat),
                      "baseline_mqtt_request_response": _stats(base),
                      "overhead_p50_ms": round(statistics.median(plat) - statistics.median(base), 2),
                      "guarded_post_to_acked": _stats(guarded),
                      "guard_overhead_p50_ms": round(statistics.median(guarded) - statistics.median(plat), 2),
                      "kill_switch": ks}))


if __name__ == "__main__":
    main()
