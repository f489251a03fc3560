"""Runs the plant against the wall clock: ``speed`` simulated seconds per wall second, publishing readings and
applying commands between physics steps (so a command takes effect at a well-defined simulated time).

If the physics cannot keep up with the requested speed it runs flat out and reports the lag in the summary,
rather than skipping steps (which would change the physics).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tvilling.virtual_plant.commands import read_point, write_point
from tvilling.virtual_plant.errors import CommandError
from tvilling.virtual_plant.leases import LeaseError, Reverted, SupervisoryLeases, parse_lease
from tvilling.virtual_plant.mqtt_json import IncomingCommand, IncomingLease
from tvilling.virtual_plant.plant import Plant
from tvilling.virtual_plant.sensors import SensorReading

MAX_REMEMBERED_COMMANDS = 10000
log = logging.getLogger(__name__)


class Endpoint(Protocol):
    """What a protocol front (MQTT JSON today; Sparkplug B, OPC UA later) offers the runner."""

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None: ...
    def take_commands(self) -> Sequence[IncomingCommand | IncomingLease]:
        """Commands, and (MQTT JSON) lease renewals, in the order they arrived."""
        ...
    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None: ...


@dataclass
class RunStats:
    steps: int = 0
    messages: int = 0
    points: int = 0
    commands_applied: int = 0
    commands_rejected: int = 0
    commands_duplicate: int = 0
    max_lag_s: float = 0.0  # how far (simulated seconds) the physics fell behind the requested speed
    leases_expired: int = 0  # points reverted to their local value because the holder stopped renewing
    leases_released: int = 0  # points reverted because the holder released them
    lease_messages_rejected: int = 0
    leases_held: int = 0  # points under a lease when the run ended
    seq: dict[str, int] = field(default_factory=dict)


class CommandHandler:
    """Applies commands once per ``command_id``; a repeat gets the first outcome back, marked duplicate."""

    def __init__(self, plant: Plant, clock: Any = time.monotonic) -> None:
        self.plant = plant
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.leases = SupervisoryLeases(lambda d, c: read_point(plant, d, c),
                                        lambda d, c, v: write_point(plant, d, c, v), clock)

    def handle(self, cmd: IncomingCommand, stats: RunStats) -> dict[str, Any]:
        data = cmd.payload or {}
        cid = data.get("command_id")
        base: dict[str, Any] = {"command_id": cid, "device_id": cmd.device, "duplicate": False}
        if cmd.payload is None or not isinstance(cid, str) or not cid:
            stats.commands_rejected += 1
            return {**base, "status": "rejected", "reason": cmd.error or "command_id (non-empty string) is required"}
        key = f"{cmd.device}:{cid}"
        if key in self.outcomes:
            stats.commands_duplicate += 1
            return {**self.outcomes[key], "duplicate": True}
        name = data.get("command", data.get("name"))
        try:
            if not isinstance(name, str):
                raise CommandError("'command' (string) is required")
            try:
                lease = parse_lease(data)
            except LeaseError as exc:
                raise CommandError(str(exc)) from None
            if lease is not None and not self.leases.leasable(cmd.device, name):
                raise CommandError(f"{cmd.device}/{name} sets no value that could fall back: it takes no lease")
            self.leases.before_command(cmd.device, name)
            applied = self.plant.apply_command(cmd.device, name, data.get("value"))
            self.leases.after_command(cmd.device, name, applied["value"], lease)
            body = {**base, "status": "applied", "command": name, "value": applied["value"],
                    "applied_at": applied["applied_at"]}
            if lease is not None:
                body["lease_s"] = lease[0]
            stats.commands_applied += 1
        except CommandError as exc:
            body = {**base, "status": "rejected", "command": name, "reason": str(exc)}
            stats.commands_rejected += 1
        if len(self.outcomes) >= MAX_REMEMBERED_COMMANDS:
            self.outcomes.pop(next(iter(self.outcomes)))
        self.outcomes[key] = body
        return body

    def renew(self, msg: IncomingLease, stats: RunStats) -> None:
        try:
            parsed = parse_lease(msg.payload or {}, renewal=True) if msg.payload is not None else None
            if parsed is None:
                raise LeaseError("a lease renewal must be a JSON object {holder, lease_s}")
        except LeaseError as exc:
            stats.lease_messages_rejected += 1
            log.warning("lease renewal for %s ignored: %s", msg.device, exc)
            return
        self._report(self.leases.renew(msg.device, parsed[1], parsed[0]), stats)

    def expire(self, stats: RunStats) -> None:
        self._report(self.leases.expire(), stats)

    def _report(self, reverted: list[Reverted], stats: RunStats) -> None:
        for r in reverted:
            if r.why == "expired":
                stats.leases_expired += 1
            else:
                stats.leases_released += 1
            # One line on stderr per revert: the run's operator sees the plant take local control back.
            sys.stderr.write(f"virtual plant: {r.device}/{r.command} back to its local value {r.value:g} "
                             f"({r.holder}'s lease {r.why})\n")


def _serve_commands(endpoints: Sequence[Endpoint], handler: CommandHandler, stats: RunStats) -> None:
    for ep in endpoints:
        for item in ep.take_commands():
            if isinstance(item, IncomingLease):  # MQTT JSON only: other fronts carry no leases
                handler.renew(item, stats)
            else:
                ep.ack(item, handler.handle(item, stats))  # answered on the protocol it came in on
    handler.expire(stats)


def run(plant: Plant, endpoint: Endpoint | Sequence[Endpoint], *, speed: float, duration_s: float,
        sim_duration_s: float | None = None, clock: Any = time.monotonic, sleep: Any = time.sleep,
        stats: RunStats | None = None) -> RunStats:
    """Run for ``duration_s`` wall seconds (or until ``sim_duration_s`` simulated seconds, if given), publishing
    every reading on every endpoint (MQTT JSON now; Sparkplug B / OPC UA endpoints slot in beside it).

    ``stats`` is updated in place, so a caller interrupted mid-run (SIGTERM) still has the counts.
    """
    stats = stats if stats is not None else RunStats()
    endpoints: Sequence[Endpoint] = endpoint if isinstance(endpoint, Sequence) else [endpoint]
    handler = CommandHandler(plant, clock)
    dt = plant.config.dt_s
    t0_wall = clock()
    t0_sim = plant.t_s
    sim_end = t0_sim + sim_duration_s if sim_duration_s is not None else math.inf
    while True:
        elapsed = clock() - t0_wall
        if elapsed >= duration_s or plant.t_s >= sim_end:
            break
        _serve_commands(endpoints, handler, stats)
        target = min(t0_sim + elapsed * speed, sim_end)
        if plant.t_s + dt > target:
            sleep(min(0.02, (plant.t_s + dt - target) / speed))
            continue
        # Bounded burst so commands are still picked up promptly when far behind.
        for _ in range(200):
            if plant.t_s + dt > target:
                break
            plant.step()
            stats.steps += 1
            ts = plant.now().isoformat().replace("+00:00", "Z")
            for device, readings in plant.readings().items():
                seq = stats.seq.get(device, 0) + 1
                stats.seq[device] = seq
                for ep in endpoints:
                    ep.publish_readings(device, seq, ts, readings)
                stats.messages += 1
                stats.points += len(readings)
        stats.max_lag_s = max(stats.max_lag_s, target - plant.t_s)
    _serve_commands(endpoints, handler, stats)
    stats.leases_held = len(handler.leases.held)
    return stats
