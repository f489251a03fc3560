"""Runs the plant against the wall clock: ``speed`` simulated seconds per wall second, publishing readings and
applying commands between physics steps (so a command takes effect at a well-defined simulated time).

If the physics cannot keep up with the requested speed it runs flat out and reports the lag in the summary,
rather than skipping steps (which would change the physics).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tvilling.virtual_plant.errors import CommandError
from tvilling.virtual_plant.mqtt_json import IncomingCommand
from tvilling.virtual_plant.plant import Plant
from tvilling.virtual_plant.sensors import SensorReading

MAX_REMEMBERED_COMMANDS = 10000


class Endpoint(Protocol):
    """What a protocol front (MQTT JSON today; Sparkplug B, OPC UA later) offers the runner."""

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None: ...
    def take_commands(self) -> list[IncomingCommand]: ...
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
    seq: dict[str, int] = field(default_factory=dict)


class CommandHandler:
    """Applies commands once per ``command_id``; a repeat gets the first outcome back, marked duplicate."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.outcomes: dict[str, dict[str, Any]] = {}

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
            applied = self.plant.apply_command(cmd.device, name, data.get("value"))
            body = {**base, "status": "applied", "command": name, "value": applied["value"],
                    "applied_at": applied["applied_at"]}
            stats.commands_applied += 1
        except CommandError as exc:
            body = {**base, "status": "rejected", "command": name, "reason": str(exc)}
            stats.commands_rejected += 1
        if len(self.outcomes) >= MAX_REMEMBERED_COMMANDS:
            self.outcomes.pop(next(iter(self.outcomes)))
        self.outcomes[key] = body
        return body


def _serve_commands(endpoints: Sequence[Endpoint], handler: CommandHandler, stats: RunStats) -> None:
    for ep in endpoints:
        for cmd in ep.take_commands():
            ep.ack(cmd, handler.handle(cmd, stats))  # answered on the protocol it came in on


def run(plant: Plant, endpoint: Endpoint | Sequence[Endpoint], *, speed: float, duration_s: float,
        sim_duration_s: float | None = None, clock: Any = time.monotonic, sleep: Any = time.sleep,
        stats: RunStats | None = None) -> RunStats:
    """Run for ``duration_s`` wall seconds (or until ``sim_duration_s`` simulated seconds, if given), publishing
    every reading on every endpoint (MQTT JSON now; Sparkplug B / OPC UA endpoints slot in beside it).

    ``stats`` is updated in place, so a caller interrupted mid-run (SIGTERM) still has the counts.
    """
    stats = stats if stats is not None else RunStats()
    endpoints: Sequence[Endpoint] = endpoint if isinstance(endpoint, Sequence) else [endpoint]
    handler = CommandHandler(plant)
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
    return stats
