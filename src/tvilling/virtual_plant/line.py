"""Drive trains (motor + bearing + load) and the bottling line: filler, conveyor, throughput and jams."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tvilling.virtual_plant.bearing import Bearing
from tvilling.virtual_plant.motor import InductionMotor


def _sync_rated_rpm(motor: InductionMotor) -> float:
    return 120.0 * motor.params.rated_hz / motor.params.poles


@dataclass
class DriveTrain:
    """A motor turning a load through a bearing. ``load_kw(speed_rpm)`` is the load's shaft-power demand."""

    motor: InductionMotor
    bearing: Bearing

    def solve_speed(self, load_kw: Callable[[float], float]) -> float:
        """Speed where motor torque meets load torque (fixed point; the slip region is nearly linear)."""
        speed = self.motor.sync_rpm
        for _ in range(4):
            if speed <= 0.0:
                return 0.0
            torque = load_kw(speed) * 1000.0 / (speed * 2.0 * math.pi / 60.0)
            speed = self.motor.speed_at(torque)
        return speed

    def step(self, dt_s: float, speed_rpm: float, shaft_kw: float, ambient_c: float,
             rng: np.random.Generator) -> None:
        m = self.motor
        m.step(dt_s, {"speed_rpm": speed_rpm, "shaft_power_kw": shaft_kw, "ambient_c": ambient_c})
        load = shaft_kw / m.params.rated_kw
        self.bearing.step(dt_s, {"shaft_hz": speed_rpm / 60.0, "load": load, "ambient_c": ambient_c}, rng)
        if self.bearing.failed:
            # A seized bearing trips the drive (overcurrent); it stays down until the bearing is replaced.
            m.tripped = True


@dataclass(frozen=True)
class LineParams:
    bottle_l: float = 0.33
    filler_rated_bpm: float = 600.0  # bottles per minute at the filler motor's rated speed
    conveyor_rated_bpm: float = 700.0
    filler_load_kw: float = 4.0  # filler shaft demand at rated speed and throughput
    conveyor_load_kw: float = 2.2
    jams_per_hour: float = 0.15
    jam_mean_s: float = 240.0
    max_product_temp_c: float = 8.0  # above this, fill quality suffers and the filler is slowed
    derate_per_c: float = 0.15  # throughput fraction lost per °C over the limit


@dataclass
class LineState:
    throughput_bpm: float = 0.0
    limited_by: str = "stopped"
    jammed: bool = False
    bottles_total: float = 0.0


@dataclass
class Line:
    """Throughput is set by the slowest stage: filler, conveyor, product supply (pump) and product temperature."""

    name: str
    filler: DriveTrain
    conveyor: DriveTrain
    params: LineParams = field(default_factory=LineParams)
    speed_command_bpm: float = 500.0
    running: bool = True
    jam_remaining_s: float = 0.0
    state: LineState = field(default_factory=LineState)

    def set_speed(self, bpm: float) -> None:
        self.speed_command_bpm = bpm
        p = self.params
        # Both drives follow the line speed through their inverters, conveyor slightly faster to avoid gaps.
        self.filler.motor.frequency_hz = self.filler.motor.params.rated_hz * bpm / p.filler_rated_bpm
        self.conveyor.motor.frequency_hz = self.conveyor.motor.params.rated_hz * 1.1 * bpm / p.conveyor_rated_bpm

    def _capacity_bpm(self, drive: DriveTrain, rated_bpm: float) -> float:
        m = drive.motor
        rated_rpm = 120.0 * m.params.rated_hz / m.params.poles * (1.0 - m.params.rated_slip)
        return rated_bpm * m.state.speed_rpm / rated_rpm

    def step(self, dt_s: float, inputs: dict[str, float], rng: np.random.Generator) -> LineState:
        """Inputs: ``product_flow_m3h`` (pump), ``product_temp_c``, ``ambient_c``."""
        p = self.params
        ambient_c = inputs.get("ambient_c", 25.0)
        on = self.running
        self.filler.motor.running = on
        self.conveyor.motor.running = on
        # Random jams: Poisson arrivals, exponential clearing time.
        if self.jam_remaining_s > 0.0:
            self.jam_remaining_s = max(0.0, self.jam_remaining_s - dt_s)
        elif on and rng.random() < 1.0 - math.exp(-p.jams_per_hour * dt_s / 3600.0):
            self.jam_remaining_s = float(rng.exponential(p.jam_mean_s))
        jammed = self.jam_remaining_s > 0.0
        prev_tp = self.state.throughput_bpm / max(p.filler_rated_bpm, 1e-9)

        def filler_kw(speed_rpm: float) -> float:
            r = speed_rpm / _sync_rated_rpm(self.filler.motor)
            return p.filler_load_kw * r * (0.5 + 0.5 * prev_tp)

        def conveyor_kw(speed_rpm: float) -> float:
            r = speed_rpm / _sync_rated_rpm(self.conveyor.motor)
            return p.conveyor_load_kw * r * (1.4 if jammed else 1.0)  # bottles pile up and drag on the belt

        fs = self.filler.solve_speed(filler_kw)
        cs = self.conveyor.solve_speed(conveyor_kw)
        self.filler.step(dt_s, fs, filler_kw(fs) if fs > 0 else 0.0, ambient_c, rng)
        self.conveyor.step(dt_s, cs, conveyor_kw(cs) if cs > 0 else 0.0, ambient_c, rng)
        limits = {
            "filler": self._capacity_bpm(self.filler, p.filler_rated_bpm),
            "conveyor": self._capacity_bpm(self.conveyor, p.conveyor_rated_bpm),
            "product_supply": inputs.get("product_flow_m3h", 0.0) * 1000.0 / 60.0 / p.bottle_l,
            "command": self.speed_command_bpm,
        }
        over_c = inputs.get("product_temp_c", 4.0) - p.max_product_temp_c
        if over_c > 0.0:
            limits["product_temperature"] = self.speed_command_bpm * max(0.0, 1.0 - p.derate_per_c * over_c)
        limited_by = min(limits, key=lambda k: limits[k])
        tp = max(0.0, limits[limited_by])
        if not on:
            tp, limited_by = 0.0, "stopped"
        elif jammed:
            tp, limited_by = 0.0, "jam"
        elif self.filler.motor.tripped or self.conveyor.motor.tripped:
            tp, limited_by = 0.0, "trip"
        self.state = LineState(throughput_bpm=tp, limited_by=limited_by, jammed=jammed,
                               bottles_total=self.state.bottles_total + tp * dt_s / 60.0)
        return self.state
