"""Supervisory leases, reliability C-13: autonomous setpoints carry a lease, and a device whose lease holder dies
falls back to its local value within lease + 1 s; after a restart the platform does not resume autonomy by itself.

Both tests run real processes against a real Mosquitto: the virtual plant (``python -m tvilling.virtual_plant``),
whose stderr announces each revert in one line, read here as it arrives (its arrival time is the measured revert),
and a lease holder that is ``kill -9``-ed:

- the device contract: a small script on the platform's MQTT command transport sends the hall's heating setpoint
  under a lease and renews it until it is killed;
- end to end: ``tvilling serve`` with the hall's setpoint loop in ``auto`` mode (the bottling-plant site, the hall
  over Sparkplug B, its commands over MQTT JSON), enabled by an engineer; killed, then restarted on its database.

The one timing assertion is the requirement's own bound (revert <= lease + 1 s after the kill); the lower bounds
show the revert is the lease running out, not the device reacting to the kill some other way. The measured times
are recorded as test properties (``--junitxml``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from tests.support.hall_history import hall_rows
from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tests.support.services import free_port
from tvilling.adapters.sql.timeseries import TimeSeriesStore
from tvilling.app.setpoint_loops import RESTART_REASON
from tvilling.app.site import SitePackage, load_site
from tvilling.bootstrap import build_platform
from tvilling.core.context import Context
from tvilling.core.roles import Role
from tvilling.settings import Settings
from tvilling.virtual_plant import Plant, PlantConfig

pytestmark = pytest.mark.mosquitto

LEASE_S = 3.0
HEATING = "hall/set_heating_setpoint_c"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}

# The lease holder of the device contract: the platform's own MQTT command transport sends the hall's heating
# setpoint under a lease held by loop:test, prints the device's answer, then renews every `every` seconds until
# it is killed (argv: broker port, lease_s, every).
HOLDER = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from tvilling.adapters.mqtt_commands import MqttCommandSettings, MqttCommandTransport
from tvilling.ports.commands import CommandRequest, CommandTarget

async def main(port: int, lease_s: float, every: float) -> None:
    acked = asyncio.Event()

    async def on_outcome(outcome):
        print(json.dumps({"status": outcome.status, "reason": outcome.reason, "detail": outcome.detail}), flush=True)
        if outcome.status == "acked":
            acked.set()

    transport = MqttCommandTransport(MqttCommandSettings(port=port, client_id="lease-holder"))
    await transport.start(on_outcome)
    target = CommandTarget("mqtt", "plant/hall/commands", "set_heating_setpoint_c")
    for attempt in range(10):  # the plant is subscribed already; a retry only covers a lost first publish
        await transport.send(CommandRequest(
            f"lease-test-{attempt}", "default", "hall", "set_heating_setpoint_c", 21.5, target,
            datetime.now(UTC) + timedelta(seconds=30), lease_s=lease_s, holder="loop:test"))
        try:
            await asyncio.wait_for(acked.wait(), 3)
            break
        except TimeoutError:
            continue
    else:
        sys.exit("lease holder: the plant never acknowledged the command")
    while True:
        await transport.renew_lease(target, "loop:test", lease_s)
        await asyncio.sleep(every)

asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))
"""


class Lines:
    """A process's text stream read line by line on a thread; each line with the ``time.monotonic()`` it arrived."""

    def __init__(self, stream: IO[str]) -> None:
        self.items: list[tuple[float, str]] = []
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:  # closed at the end of the stream: when the process has exited
            for line in stream:
                with self._cv:
                    self.items.append((time.monotonic(), line.rstrip("\n")))
                    self._cv.notify_all()

    def matching(self, pred: Callable[[str], bool]) -> list[tuple[float, str]]:
        with self._cv:
            return [item for item in self.items if pred(item[1])]

    def wait_for(self, pred: Callable[[str], bool], timeout_s: float) -> tuple[float, str] | None:
        """The first line (ever) matching ``pred``; None if none came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while True:
                for item in self.items:
                    if pred(item[1]):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)

    def text(self) -> str:
        with self._cv:
            return "\n".join(line for _, line in self.items[-40:])


@dataclass
class Observer:
    """A paho client on the broker recording every message on ``topics`` with its arrival (monotonic) time."""

    port: int
    topics: list[str]
    messages: list[tuple[float, str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lease-observer-{os.getpid()}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, _u, _f, _rc, _p=None: c.subscribe([(t, 1) for t in self.topics])
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), msg.topic, bytes(msg.payload)))

    def start(self) -> Observer:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the observer could not subscribe"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on(self, topic: str, since: float = 0.0) -> list[tuple[float, bytes]]:
        with self._lock:
            return [(t, p) for t, tp, p in self.messages if tp == topic and t >= since]

    def wait(self, topic: str, payload: bytes, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(p == payload for _, p in self.on(topic)):
            assert time.monotonic() < deadline, f"nothing like {payload!r} on {topic} within {timeout_s} s"
            time.sleep(0.05)


def stop_process(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
    """Signal ``proc`` (if it still runs) and reap it; SIGKILL if it does not end within ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def plant_process(port: int, *extra: str, duration_s: float = 120.0) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """The virtual plant as its own process, its stderr read line by line; terminated (and reaped) at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tvilling.virtual_plant", "--broker", f"mqtt://127.0.0.1:{port}",
         "--duration", str(duration_s), "--no-faults", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=ENV)
    try:
        assert proc.stderr is not None
        yield proc, Lines(proc.stderr)
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def plant_summary(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM the plant and return the JSON summary it prints on stdout at the end."""
    stop_process(proc)
    assert proc.returncode == 0, proc.returncode
    assert proc.stdout is not None
    lines = [ln for ln in proc.stdout.read().splitlines() if ln.startswith("{")]
    assert lines, "the plant printed no summary"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def revert_line(point: str, holder: str, why: str = "expired") -> Callable[[str], bool]:
    return lambda line: line.startswith(f"virtual plant: {point} back to its local value ") and \
        line.endswith(f"({holder}'s lease {why})")


def test_the_plant_falls_back_when_the_lease_holder_is_killed(
        mosquitto_broker: int, record_property: Callable[[str, object], None]) -> None:  # noqa: F811
    with ExitStack() as stack:
        observer = Observer(mosquitto_broker, ["plant/status", "plant/hall/commands/#"]).start()
        stack.callback(observer.stop)
        plant, plant_err = stack.enter_context(plant_process(mosquitto_broker, "--speed", "1"))
        observer.wait("plant/status", b"online", 60)  # retained; published after the plant's subscriptions
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(mosquitto_broker), str(LEASE_S), "0.75"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=ENV)
        stack.callback(stop_process, holder, signal.SIGKILL)
        assert holder.stdout is not None
        holder_out = Lines(holder.stdout)

        answer = holder_out.wait_for(lambda line: line.startswith("{"), 60)
        assert answer is not None, f"the lease holder got no answer:\n{holder_out.text()}\n{plant_err.text()}"
        acked_at, body = answer[0], json.loads(answer[1])
        assert body["status"] == "acked", body
        assert body["detail"]["value"] == 21.5 and body["detail"]["lease_s"] == LEASE_S, body

        # Held past its lease while the renewals flow: no revert in twice the lease time.
        held = plant_err.wait_for(revert_line(HEATING, "loop:test"), 2 * LEASE_S)
        assert held is None, f"reverted while the holder was renewing: {held}"
        renewals = observer.on("plant/hall/commands/lease", since=acked_at)
        assert len(renewals) >= 4 and holder.poll() is None, (renewals, holder_out.text())
        assert json.loads(renewals[-1][1]) == {"holder": "loop:test", "lease_s": LEASE_S}

        killed_at = time.monotonic()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        reverted = plant_err.wait_for(revert_line(HEATING, "loop:test"), 30)
        assert reverted is not None, f"the plant never fell back:\n{plant_err.text()}"
        last_renewal = max(t for t, _ in observer.on("plant/hall/commands/lease"))
        assert reverted[1] == f"virtual plant: {HEATING} back to its local value 19 (loop:test's lease expired)"
        record_property("reverted after the kill, s", round(reverted[0] - killed_at, 3))
        record_property("reverted after the last renewal, s", round(reverted[0] - last_renewal, 3))
        # C-13: local control again within lease + 1 s of the holder's death ...
        assert reverted[0] - killed_at <= LEASE_S + 1.0, (reverted[0] - killed_at, last_renewal - killed_at)
        # ... and because the lease ran out: a lease after the last renewal, not at once on the kill.
        assert reverted[0] - last_renewal >= LEASE_S - 0.5, (reverted[0] - last_renewal, last_renewal - killed_at)
        assert reverted[0] - killed_at >= 1.0, reverted[0] - killed_at

        summary = plant_summary(plant)
        assert summary["leases_expired"] >= 1 and summary["leases_released"] == 0, summary
        assert summary["commands_applied"] >= 1 and summary["commands_rejected"] == 0, summary


# --- end to end: `tvilling serve` with the hall's setpoint loop in auto mode ------------------------------------

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
TENANT = "default"
LOOP = {"name": "hall-comfort", "twin": "hall", "mode": "auto", "band": {"low": 21, "high": 23},
        "limits": {"heating": [16, 24], "cooling": [20, 28]}, "history_days": 7, "period_s": 300,
        "lease_s": LEASE_S,
        # Not under test here: the confidence gate (the model's held-out error is about 18 % on this week).
        "max_energy_error": 0.5}
# The plant's own (simulated) time: a May week, when the hall both heats and cools (something to learn from both
# ways) whatever the date the test runs; the server's time policy is widened to accept it (as `tvilling demo` does).
START = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)  # a Wednesday morning
SPEED = 60  # a decision every period_s / SPEED = 5 wall seconds
DECIDED = ("sent", "awaiting approval", "suspended", "refused", "failed")  # anything else: no move yet


def write_history(engine: Any, end: datetime, days: int) -> None:
    """The hall's ``days`` before ``end`` from the plant's physics (same seed and weather as the live plant), as the
    quarter-hour means the loop's model is fitted on."""
    plant = Plant(PlantConfig(seed=7, faults=[], start=end - timedelta(days=days)))
    rows = hall_rows(TENANT, plant, (end - timedelta(days=days)).timestamp(), days)
    TimeSeriesStore(engine).write_batch(rows, [], [], 0)


def prepare(tmp_path: Path, broker_port: int) -> tuple[str, Path, dict[str, str], dict[str, str]]:
    """The database (site, history, tokens) and the server's settings file: (db URL, config, engineer, viewer)."""
    db = f"sqlite:///{tmp_path / 'lease.db'}"
    setpoints = tmp_path / "setpoints.yaml"
    setpoints.write_text(yaml.safe_dump({"version": 1, "tenant": TENANT, "loops": [LOOP]}), encoding="utf-8")
    files: dict[str, Any] = {"data_dir": tmp_path, "mappings_file": EXAMPLE / "mappings.yaml",
                             "commands_file": EXAMPLE / "commands.yaml", "setpoints_file": setpoints}
    platform = build_platform(Settings(db=SecretStr(db), **files), announce=lambda _t: None, dashboard=False)
    try:
        load_site(platform.services, TENANT, SitePackage(EXAMPLE), Context.new(actor="test"))
        write_history(platform.store.engine, START, 7)
        engineer = platform.services.tokens.create(TENANT, Role.ENGINEER, "eng").token
        viewer = platform.services.tokens.create(TENANT, Role.VIEWER, "viewer").token
    finally:
        platform.close()
    lag_s = abs((datetime.now(UTC) - START).total_seconds())
    config = {**{k: str(v) for k, v in files.items()}, "log_level": "warning",
              "mqtt_url": f"mqtt://127.0.0.1:{broker_port}", "mqtt_receiver": "thread",  # no child process
              # The hall speaks Sparkplug B (the site's mappings); the plant's MQTT JSON devices are not needed.
              "mqtt_topics": ["plant/hall/telemetry"], "sparkplug_enabled": True,
              "mqtt_client_id": "lease-ingest", "sparkplug_client_id": "lease-spb", "commands_client_id": "lease-cmd",
              "quality_max_age_s": lag_s + 30 * 86400.0, "quality_future_tolerance_s": lag_s + 86400.0}
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    return db, cfg, {"Authorization": f"Bearer {engineer}"}, {"Authorization": f"Bearer {viewer}"}


@contextmanager
def server_process(db: str, cfg: Path, port: int, log: Path) -> Iterator[subprocess.Popen[str]]:
    """``tvilling serve`` as its own process (output to ``log``), up once /health answers; stopped at the end."""
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tvilling.cli.main", "serve", "--db", db, "--port", str(port),
                                 "--config", str(cfg)], stdout=out, stderr=subprocess.STDOUT, text=True, env=ENV)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, \
                    f"the server did not come up:\n{log.read_text()[-3000:]}"
                time.sleep(0.2)
            yield proc
        finally:
            stop_process(proc)


def poll(what: str, fn: Callable[[], Any], timeout_s: float, diag: Callable[[], str] = lambda: "") -> Any:
    """``fn()`` every 0.2 s until it returns something truthy; fails after ``timeout_s`` with ``diag()``."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s\n{diag()}"
        time.sleep(0.2)


def test_a_killed_server_leaves_the_hall_to_local_control_and_does_not_resume_autonomy(
        mosquitto_broker: int, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:  # noqa: F811
    db, cfg, engineer, viewer = prepare(tmp_path, mosquitto_broker)
    port = free_port()
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    log = tmp_path / "server.log"
    loop_url = "/api/v1/setpoint-loops/hall-comfort"

    def proposals() -> list[dict[str, Any]]:
        r = api.get(f"{loop_url}/proposals", headers=viewer, params={"limit": 20})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["value"]
        return items

    with ExitStack() as stack:
        stack.callback(api.close)
        observer = Observer(mosquitto_broker, ["plant/status", "plant/hall/commands/#"]).start()
        stack.callback(observer.stop)
        plant, plant_err = stack.enter_context(plant_process(
            mosquitto_broker, "--speed", str(SPEED), "--seed", "7", "--start", START.isoformat(),
            "--sparkplug-devices", "hall", duration_s=300))
        server = stack.enter_context(server_process(db, cfg, port, log))

        def diag() -> str:
            return f"server log:\n{log.read_text()[-3000:]}\nplant:\n{plant_err.text()}\nproposals: {proposals()[:3]}"

        # The loop follows the hall (a first decision, autonomy still off), then an engineer enables autonomy.
        poll("no decision on the hall's readings", proposals, 60, diag)
        poll("autonomy could not be enabled", lambda: api.post(f"{loop_url}/enable", headers=engineer)
             .status_code == 200, 30, diag)

        def moved() -> dict[str, Any] | None:
            return next((p for p in proposals() if p["decision"] in DECIDED), None)

        decision = poll("no autonomous move", moved, 90, diag)
        assert decision["decision"] == "sent", (decision["decision"], decision["reasons"], decision.get("confidence"))
        def acked(url: str) -> Callable[[], bool]:
            return lambda: bool(api.get(url, headers=viewer).json()["state"] == "acked")

        for c in decision["commands"]:
            poll(f"command {c['id']} not acknowledged", acked(f"/api/v1/commands/{c['id']}"), 30, diag)
        acked_at = time.monotonic()

        # Held while the server renews: no revert in 1.5 leases, and the renewals flowed.
        assert plant_err.wait_for(lambda line: "lease" in line, 1.5 * LEASE_S) is None, plant_err.text()
        renewals = [json.loads(p) for _, p in observer.on("plant/hall/commands/lease", since=acked_at)]
        assert len(renewals) >= 3 and all(r == {"holder": "loop:hall-comfort", "lease_s": LEASE_S} for r in renewals)

        killed_at = time.monotonic()
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        first = plant_err.wait_for(lambda line: line.endswith("(loop:hall-comfort's lease expired)"), 30)
        assert first is not None, f"the hall never fell back:\n{plant_err.text()}"
        # Every point the loop sent under its lease until the kill (the decision above and any later one; whatever
        # the server published before it died has reached the plant by now), each answered by the plant.
        sent = [json.loads(p) for _, p in observer.on("plant/hall/commands")]
        leased = {f"hall/{c['command']}" for c in sent if c.get("holder") == "loop:hall-comfort"}
        assert leased and all(c.get("lease_s") == LEASE_S for c in sent), sent
        applied_before = len(observer.on("plant/hall/commands/ack"))
        assert applied_before == len(sent), (sent, observer.on("plant/hall/commands/ack"))
        last_renewal = max(t for t, _ in observer.on("plant/hall/commands/lease"))
        local = {"hall/set_heating_setpoint_c": 19, "hall/set_cooling_setpoint_c": 24}  # the hall's own, at start
        for point in sorted(leased):
            reverted = plant_err.wait_for(revert_line(point, "loop:hall-comfort"), 30)
            assert reverted is not None, f"{point} never fell back:\n{plant_err.text()}"
            assert reverted[1] == (f"virtual plant: {point} back to its local value {local[point]} "
                                   "(loop:hall-comfort's lease expired)")
            record_property(f"{point} reverted after the kill, s", round(reverted[0] - killed_at, 3))
            # C-13: the hall is under local control again within lease + 1 s of the server's death, because the
            # lease ran out (a lease after the last renewal the server sent, not at once on the kill).
            assert reverted[0] - killed_at <= LEASE_S + 1.0, (point, reverted[0] - killed_at)
            assert reverted[0] - last_renewal >= LEASE_S - 0.5, (point, reverted[0] - last_renewal)
            assert reverted[0] - killed_at >= 1.0, (point, reverted[0] - killed_at)

        # The restarted server keeps autonomy off (restart reason, by the system) and sends the hall nothing: its
        # first decisions on the hall only recommend, and the one lease message is the release at start.
        restarted_at, restarted_wall = time.monotonic(), datetime.now(UTC)
        stack.enter_context(server_process(db, cfg, port, log))
        autonomy = api.get(loop_url, headers=viewer).json()["autonomy"]
        assert autonomy["enabled"] is False and autonomy["suspendedReason"] == RESTART_REASON, autonomy
        assert autonomy["changedBy"] == "system", autonomy

        def after_restart() -> list[dict[str, Any]]:
            fresh = [p for p in proposals() if datetime.fromisoformat(p["createdAt"]) >= restarted_wall]
            return fresh if len(fresh) >= 2 else []

        for p in poll("no decision after the restart", after_restart, 60, diag):
            assert p["decision"] in ("recommended", "unchanged"), p
            assert not p["commands"] and any("autonomy is off" in r for r in p["reasons"]), p
        assert observer.on("plant/hall/commands", since=restarted_at) == []
        assert len(observer.on("plant/hall/commands/ack")) == applied_before
        released = [json.loads(p) for _, p in observer.on("plant/hall/commands/lease", since=restarted_at)]
        assert released == [{"holder": "loop:hall-comfort", "lease_s": 0}], released

        summary = plant_summary(plant)
        assert summary["leases_expired"] == len(leased) and summary["leases_released"] == 0, summary
        assert summary["commands_applied"] == applied_before and summary["commands_rejected"] == 0, summary
