"""Commands the plant accepts, per device: a table of (device, command) → value range and effect.

A command is ``{"command_id", "command", "value"}`` on the wire; here it is already decoded. Effects change the
physics (inverter frequency, valve command, setpoints, run state) or do maintenance (replace a bearing, clean the
chiller condenser), which also closes the matching ground-truth record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tvilling.virtual_plant.errors import CommandError

if TYPE_CHECKING:
    from tvilling.virtual_plant.plant import Plant


@dataclass(frozen=True)
class CommandSpec:
    lo: float | None  # None: the command takes no value
    hi: float | None
    unit: str
    effect: Callable[[Plant, float], None]
    doc: str
    # The point's present value, for commands that set one: such a point can be held under a supervisory lease
    # (virtual_plant/leases.py) and fall back to its local value.
    read: Callable[[Plant], float] | None = None


def _pump_speed(p: Plant, pct: float) -> None:
    m = p.pump_train.motor
    m.frequency_hz = m.params.rated_hz * pct / 100.0


def _pump_run(on: bool) -> Callable[[Plant, float], None]:
    def run(p: Plant, _v: float) -> None:
        p.pump_train.motor.running = on
        if on:
            p.pump_train.motor.tripped = p.pump_train.bearing.failed
    return run


def _valve(p: Plant, pct: float) -> None:
    p.level_ctl.auto = False  # an operator's valve position overrides the level controller (manual mode)
    p.pump.valve.command_pct = pct


def _level_setpoint(p: Plant, pct: float) -> None:
    p.level_ctl.setpoint_frac = pct / 100.0
    if not p.level_ctl.auto:
        p.level_ctl.take_over(p.pump.valve.command_pct, p.tank.level_frac)


def _line_speed(p: Plant, bpm: float) -> None:
    p.line.set_speed(bpm)


def _line_run(on: bool) -> Callable[[Plant, float], None]:
    def run(p: Plant, _v: float) -> None:
        p.line.running = on
        if on:
            for d in (p.line.filler, p.line.conveyor):
                d.motor.tripped = d.bearing.failed
    return run


def _replace_bearing(device: str) -> Callable[[Plant, float], None]:
    def replace(p: Plant, _v: float) -> None:
        d = p.drives[device]
        rec = p.active.pop(f"{d.bearing.name}:bearing_wear", None)
        if rec is not None:
            rec.end_s = p.t_s
        d.bearing.replace()
        d.motor.tripped = False
    return replace


def _chiller_setpoint(p: Plant, c: float) -> None:
    p.chiller.setpoint_c = c


def _chiller_run(on: bool) -> Callable[[Plant, float], None]:
    def run(p: Plant, _v: float) -> None:
        p.chiller.running = on
        if on:
            p.chiller.tripped = False
    return run


def _clean_condenser(p: Plant, _v: float) -> None:
    p.chiller.fouling_k = 0.0
    p.chiller.fouling_rate_k_per_day = 0.0
    p.chiller.tripped = False
    rec = p.active.pop("chiller-1:chiller_fouling", None)
    if rec is not None:
        rec.end_s = p.t_s


def _heating_sp(p: Plant, c: float) -> None:
    p.hall.heating_setpoint_c = c


def _cooling_sp(p: Plant, c: float) -> None:
    p.hall.cooling_setpoint_c = c


def _hvac_run(on: bool) -> Callable[[Plant, float], None]:
    def run(p: Plant, _v: float) -> None:
        p.hall.hvac_on = on
    return run


# What each setpoint command set last (the value a lease falls back from).
def _pump_speed_now(p: Plant) -> float:
    m = p.pump_train.motor
    return 100.0 * m.frequency_hz / m.params.rated_hz


def _level_setpoint_now(p: Plant) -> float:
    return 100.0 * p.level_ctl.setpoint_frac


def _line_speed_now(p: Plant) -> float:
    return p.line.speed_command_bpm


def _chiller_setpoint_now(p: Plant) -> float:
    return p.chiller.setpoint_c


def _heating_sp_now(p: Plant) -> float:
    return p.hall.heating_setpoint_c


def _cooling_sp_now(p: Plant) -> float:
    return p.hall.cooling_setpoint_c


COMMANDS: dict[tuple[str, str], CommandSpec] = {
    ("pump-1", "set_speed_pct"): CommandSpec(0.0, 110.0, "percent", _pump_speed, "inverter speed, % of rated",
                                                     _pump_speed_now),
    ("pump-1", "set_valve_pct"): CommandSpec(0.0, 100.0, "percent", _valve, "valve opening; manual mode"),
    ("pump-1", "set_level_setpoint_pct"): CommandSpec(10.0, 95.0, "percent", _level_setpoint,
                                                      "buffer level setpoint; level controller in auto",
                                                      _level_setpoint_now),
    ("pump-1", "start"): CommandSpec(None, None, "", _pump_run(True), "start the pump"),
    ("pump-1", "stop"): CommandSpec(None, None, "", _pump_run(False), "stop the pump"),
    ("pump-1", "replace_bearing"): CommandSpec(None, None, "", _replace_bearing("pump-1"), "maintenance"),
    ("line-1", "set_speed_bpm"): CommandSpec(0.0, 700.0, "1/min", _line_speed, "line speed, bottles/min",
                                                   _line_speed_now),
    ("line-1", "start"): CommandSpec(None, None, "", _line_run(True), "start filler and conveyor"),
    ("line-1", "stop"): CommandSpec(None, None, "", _line_run(False), "stop filler and conveyor"),
    ("filler-1", "replace_bearing"): CommandSpec(None, None, "", _replace_bearing("filler-1"), "maintenance"),
    ("conveyor-1", "replace_bearing"): CommandSpec(None, None, "", _replace_bearing("conveyor-1"), "maintenance"),
    ("chiller-1", "set_setpoint_c"): CommandSpec(1.0, 15.0, "degC", _chiller_setpoint, "chilled-water setpoint",
                                                        _chiller_setpoint_now),
    ("chiller-1", "start"): CommandSpec(None, None, "", _chiller_run(True), "start / reset the chiller"),
    ("chiller-1", "stop"): CommandSpec(None, None, "", _chiller_run(False), "stop the chiller"),
    ("chiller-1", "clean_condenser"): CommandSpec(None, None, "", _clean_condenser, "maintenance: remove fouling"),
    ("hall", "set_heating_setpoint_c"): CommandSpec(10.0, 26.0, "degC", _heating_sp, "HVAC heating setpoint",
                                                            _heating_sp_now),
    ("hall", "set_cooling_setpoint_c"): CommandSpec(18.0, 32.0, "degC", _cooling_sp, "HVAC cooling setpoint",
                                                            _cooling_sp_now),
    ("hall", "start"): CommandSpec(None, None, "", _hvac_run(True), "HVAC on"),
    ("hall", "stop"): CommandSpec(None, None, "", _hvac_run(False), "HVAC off"),
}


def read_point(plant: Plant, device: str, command: str) -> float | None:
    """The present value of the point a setpoint command sets; None for commands without one (start, stop, ...)."""
    spec = COMMANDS.get((device, command))
    return spec.read(plant) if spec is not None and spec.read is not None else None


def write_point(plant: Plant, device: str, command: str, value: float) -> None:
    """Set a point back to a value it had (a lease's revert), without the command path's checks."""
    COMMANDS[(device, command)].effect(plant, value)


def apply_command(plant: Plant, device: str, command: str, value: float | None) -> dict[str, Any]:
    """Validate and apply; returns what was applied. Raises ``CommandError`` with a one-line reason."""
    spec = COMMANDS.get((device, command))
    if spec is None:
        known = sorted(c for d, c in COMMANDS if d == device)
        if not known:
            raise CommandError(f"unknown device {device!r}")
        raise CommandError(f"unknown command {command!r} for {device}; known: {', '.join(known)}")
    v = 0.0
    if spec.lo is not None and spec.hi is not None:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise CommandError(f"{device}/{command} needs a finite numeric value in {spec.unit}")
        if not spec.lo <= value <= spec.hi:
            raise CommandError(f"{device}/{command} value {value} outside [{spec.lo}, {spec.hi}] {spec.unit}")
        v = float(value)
        if device == "hall" and command == "set_heating_setpoint_c" and v > plant.hall.cooling_setpoint_c - 1.0:
            raise CommandError("heating setpoint must stay at least 1 degC below the cooling setpoint")
        if device == "hall" and command == "set_cooling_setpoint_c" and v < plant.hall.heating_setpoint_c + 1.0:
            raise CommandError("cooling setpoint must stay at least 1 degC above the heating setpoint")
    spec.effect(plant, v)
    return {"device": device, "command": command, "value": value if spec.lo is not None else None,
            "applied_at": plant.now().isoformat().replace("+00:00", "Z")}
