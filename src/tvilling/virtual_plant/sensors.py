"""Sensor models: what a real transmitter makes of the true value.

Each sensor has its own sampling period and its own imperfections: Gaussian noise, quantisation, a slow
random-walk drift, missing samples (dropouts) and occasional bad values (NaN, spikes). An injected
``sensor_drift`` fault adds a steady ramp on top. Sensor specs are data (a table in ``plant_sensors``), not classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np


@dataclass(frozen=True)
class SensorSpec:
    """One measurement point. ``key`` names the true-state value the plant exposes for it."""

    device: str  # the publishing device (one MQTT topic per device)
    name: str  # point name inside the device payload
    key: str  # true-state key in ``Plant.true_state()``
    unit: str  # pint-parsable unit of the published value
    period_s: float = 60.0
    noise_sd: float = 0.0  # in ``unit``
    resolution: float = 0.0  # quantisation step in ``unit``; 0 = none
    drift_sd_per_day: float = 0.0  # random-walk drift, ``unit`` per sqrt(day)
    dropout_prob: float = 0.002
    nan_prob: float = 0.0005
    spike_prob: float = 0.0005
    spike_scale: float = 5.0  # a spike reads this many times the value (or noise) away
    relative_noise: bool = False  # noise_sd is a fraction of the value (vibration, flow transmitters)


@dataclass(frozen=True)
class SensorReading:
    name: str
    value: float | None  # None stands for NaN (JSON has no NaN); the sample is present but bad
    unit: str
    source_time: datetime

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "unit": self.unit,
                "source_time": self.source_time.isoformat().replace("+00:00", "Z")}


class Sensor:
    """Stateful imperfect transmitter for one ``SensorSpec``."""

    def __init__(self, spec: SensorSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        # Stagger first samples so devices do not all report on the same tick.
        self.next_due_s = float(rng.uniform(0.0, spec.period_s))
        self.drift = 0.0
        self.fault_drift_per_day = 0.0  # set by an injected sensor_drift fault (``start_drift``)
        self.fault_onset_s = 0.0
        self.fault_offset = 0.0
        self.last_t_s = 0.0

    def start_drift(self, per_day: float, t_s: float) -> None:
        """Injected fault: from ``t_s`` on, the reading ramps away from the truth at ``per_day`` units/day."""
        self.fault_drift_per_day = per_day
        self.fault_onset_s = t_s

    def offset_at(self, t_s: float) -> float:
        return self.fault_drift_per_day * max(0.0, t_s - self.fault_onset_s) / 86400.0

    def due(self, t_s: float) -> bool:
        return t_s >= self.next_due_s

    def sample(self, t_s: float, true_value: float, start: datetime) -> SensorReading | None:
        """A reading at ``t_s`` (simulated seconds since ``start``), or None for a dropout.

        Call only when ``due``; the drift state advances with the elapsed time since the previous sample.
        """
        u, z1, z2, z3 = self.rng.random(), *self.rng.standard_normal(3)
        return self.sample_with(t_s, true_value, start + timedelta(seconds=t_s), (float(u), z1, z2, z3))

    def sample_with(self, t_s: float, true_value: float, when: datetime,
                    draws: tuple[float, float, float, float]) -> SensorReading | None:
        """``sample`` with the random draws supplied (uniform, three standard normals): the plant draws them
        for all due sensors in one vectorised call, which is most of the cost of a step otherwise."""
        s = self.spec
        u, z_drift, z_noise, z_spike = draws
        # Keep the schedule on its own grid even when the physics step is coarser than the period.
        self.next_due_s += s.period_s * max(1.0, math.floor((t_s - self.next_due_s) / s.period_s) + 1.0)
        dt_days = max(0.0, t_s - self.last_t_s) / 86400.0
        self.last_t_s = t_s
        if s.drift_sd_per_day > 0.0 and dt_days > 0.0:
            self.drift += s.drift_sd_per_day * math.sqrt(dt_days) * z_drift
        self.fault_offset = self.offset_at(t_s)
        if u < s.dropout_prob:
            return None
        if u < s.dropout_prob + s.nan_prob:
            return SensorReading(s.name, None, s.unit, when)
        sd = s.noise_sd * abs(true_value) if s.relative_noise else s.noise_sd
        value = true_value + self.drift + self.fault_offset + sd * z_noise
        if u < s.dropout_prob + s.nan_prob + s.spike_prob:
            value += math.copysign(s.spike_scale * max(abs(true_value), sd, 1.0), z_spike)
        if s.resolution > 0.0:
            value = round(value / s.resolution) * s.resolution
        if not math.isfinite(value):
            return SensorReading(s.name, None, s.unit, when)
        return SensorReading(s.name, round(value, 6), s.unit, when)
