"""Command round trip: POST /api/v1/twins/{id}/commands/{name} -> MQTT -> device ack -> state ``acked``; one JSON
object on stdout.

A device on a local Mosquitto answers every command at once (on the ack topic and the MQTT 5 response topic, as
the virtual plant does, but without physics, so the figure is the platform's cost). Baseline in the same run:
the bare MQTT 5 request/response round trip to the same device with a paho client (publish with response topic,
wait for the answer). Commands are sent one after another; the platform figure is from the POST until the
``command.acked`` event is published (three durable SQLite commits: requested, sent, acked).

    .venv/bin/python bench/bench_commands.py [--commands 200] [--profile durable|fast]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

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
MODEL = {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Dev;1", "@type": "Interface", "contents": [
    {"@type": "Command", "name": "set", "request": {"@type": "CommandRequest", "name": "v", "schema": "double"}}]}


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


def _device(port: int) -> mqtt.Client:
    """Answers every command at once, like the plant: ack topic + response topic with the correlation data."""
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-device", protocol=mqtt.MQTTv5)

    def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
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
    dev.subscribe(TOPIC, qos=1)
    dev.loop_start()
    return dev


def _stats(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(q[98], 2), "max_ms": round(max(ms), 2)}


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


def platform_round_trips(port: int, n: int, tmp: Path, profile: Literal["durable", "fast"]) -> list[float]:
    mapping = tmp / "commands.yaml"
    mapping.write_text(yaml.safe_dump({"tenant": "default", "commands": [
        {"twin": "dev-1", "command": "set", "transport": "mqtt", "topic": TOPIC}]}))
    platform = build_platform(Settings(db=SecretStr(f"sqlite:///{tmp / 'bench.db'}"), profile=profile,
                                       mqtt_url=f"mqtt://127.0.0.1:{port}", commands_file=mapping,
                                       mqtt_client_id="bench-ingest"), announce=lambda _t: None, dashboard=False)
    svc = platform.services
    svc.models.upload("default", [MODEL], Context.new("bench"))
    svc.twins.put("default", "dev-1", {"$metadata": {"$model": "dtmi:bench:Dev;1"}}, Context.new("bench"))
    token = svc.tokens.create("default", Role.OPERATOR, "bench").token
    acked: dict[str, threading.Event] = {}

    def on_event(e: Event) -> None:
        if e.kind == "command.acked":
            acked.setdefault(e.data["commandId"], threading.Event()).set()

    svc.bus.listen(on_event)
    out = []
    try:
        with TestClient(platform.app) as client:
            headers = {"Authorization": f"Bearer {token}"}
            time.sleep(0.5)  # the transport's subscriptions are in place
            for i in range(n):
                cid = f"c{i}"
                done = acked.setdefault(cid, threading.Event())
                t0 = time.perf_counter()
                r = client.post("/api/v1/twins/dev-1/commands/set", params={"commandId": cid}, json=float(i),
                                headers=headers)
                if r.status_code != 202 or not done.wait(10):
                    raise SystemExit(f"error: command {cid} not acked ({r.status_code} {r.text[:200]})")
                out.append((time.perf_counter() - t0) * 1000)
    finally:
        platform.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--profile", choices=["durable", "fast"], default="durable")  # Settings.profile
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tvl-bench-cmd-") as d:
        tmp = Path(d)
        port, proc = _mosquitto(tmp)
        dev = _device(port)
        try:
            base = baseline(port, args.commands)
            plat = platform_round_trips(port, args.commands, tmp, args.profile)
        finally:
            dev.loop_stop()
            dev.disconnect()
            proc.terminate()
            proc.wait(5)
    print(json.dumps({"benchmark": "commands", "commands": args.commands, "profile": args.profile,
                      "cpu_count": os.cpu_count(), "platform_post_to_acked": _stats(plat),
                      "baseline_mqtt_request_response": _stats(base),
                      "overhead_p50_ms": round(statistics.median(plat) - statistics.median(base), 2)}))


if __name__ == "__main__":
    main()
