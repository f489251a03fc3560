"""Fault injection with ground truth.

A ``FaultSpec`` says what to inject, where and when; scenarios are scripted (a list of specs) or drawn from a seed
(``random_scenario``). The plant records what actually happened — onset, and the failure time if the fault ran to
failure — in a ``GroundTruth`` that it dumps as JSON at the end, so detection lead time and false alarms can be
scored against it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tvilling.virtual_plant.bearing import BearingParams
from tvilling.virtual_plant.errors import ConfigError

FaultKind = Literal["bearing_wear", "valve_sticking", "sensor_drift", "chiller_fouling", "cavitation"]
FAULT_KINDS: tuple[str, ...] = ("bearing_wear", "valve_sticking", "sensor_drift", "chiller_fouling", "cavitation")


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject.

    ``asset`` is the twin id the fault belongs to (a bearing, valve, chiller, pump, or ``device/point`` for a
    sensor). ``params`` per kind:
      bearing_wear: ``defect`` ("outer"|"inner"|"ball"), optional ``growth_per_day``;
      valve_sticking: ``stiction_pct`` (dead band);
      sensor_drift: ``drift_per_day`` (in the sensor's unit);
      chiller_fouling: ``rate_k_per_day`` (condenser approach growth);
      cavitation: ``suction_bar`` (absolute suction pressure reached), ``duration_s``.
    """

    asset: str
    kind: str
    onset_s: float
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.onset_s < 0:
            raise ConfigError(f"fault onset must be >= 0 s, got {self.onset_s}")


@dataclass
class FaultRecord:
    asset: str
    kind: str
    onset_s: float
    failure_at_s: float | None = None
    end_s: float | None = None  # for episodic faults (cavitation) and repaired ones
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class GroundTruth:
    """Everything the plant injected, in simulated time; ``as_json`` gives ISO 8601 UTC timestamps."""

    start: datetime
    records: list[FaultRecord] = field(default_factory=list)
    sim_seconds: float = 0.0

    def add(self, spec: FaultSpec, details: dict[str, Any] | None = None) -> FaultRecord:
        rec = FaultRecord(spec.asset, spec.kind, spec.onset_s, details=dict(details or spec.params))
        self.records.append(rec)
        return rec

    def _iso(self, t_s: float | None) -> str | None:
        if t_s is None:
            return None
        return (self.start + timedelta(seconds=t_s)).isoformat().replace("+00:00", "Z")

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self._iso(0.0),
            "end": self._iso(self.sim_seconds),
            "sim_days": self.sim_seconds / 86400.0,
            "faults_injected": [
                {"asset": r.asset, "kind": r.kind, "onset": self._iso(r.onset_s),
                 "failure_at": self._iso(r.failure_at_s), "end": self._iso(r.end_s), "details": r.details}
                for r in self.records
            ],
        }

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def random_scenario(rng: np.random.Generator, horizon_s: float) -> list[FaultSpec]:
    """A seeded mix of every fault kind, placed within ``horizon_s`` so each has room to develop.

    Bearing wear is sized to run to failure well inside the horizon (growth rate from the time left), which is
    what makes the headline story (detect → predict → work order before failure) scoreable.
    """
    h = horizon_s
    bearing = str(rng.choice(["pump-1-bearing", "filler-1-bearing", "conveyor-1-bearing"]))
    wear_onset = float(rng.uniform(0.1, 0.3)) * h
    # ln(failure/initial size) e-folds, to be covered in ~40–65 % of the time left at the machine's usual speed
    # and load (the bearing's own seeded rate factor then spreads it).
    bp = BearingParams()
    e_folds = math.log(bp.failure_defect_mm / bp.initial_defect_mm)
    time_left_days = (h - wear_onset) / 86400.0
    growth = e_folds / max(time_left_days * float(rng.uniform(0.4, 0.65)), 1e-6)
    specs = [
        FaultSpec(bearing, "bearing_wear", wear_onset,
                  {"defect": str(rng.choice(["outer", "inner"])), "growth_per_day": growth}),
        FaultSpec("pump-1-valve", "valve_sticking", float(rng.uniform(0.3, 0.6)) * h,
                  {"stiction_pct": float(rng.uniform(8.0, 20.0))}),
        FaultSpec("hall/air_temperature", "sensor_drift", float(rng.uniform(0.2, 0.5)) * h,
                  {"drift_per_day": float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.05, 0.15))
                   * 90.0 / max(h / 86400.0, 1e-6)}),
        FaultSpec("chiller-1", "chiller_fouling", float(rng.uniform(0.2, 0.4)) * h,
                  {"rate_k_per_day": float(rng.uniform(0.15, 0.3)) * 90.0 / max(h / 86400.0, 1e-6)}),
        FaultSpec("pump-1", "cavitation", float(rng.uniform(0.1, 0.8)) * h,
                  {"suction_bar": float(rng.uniform(0.18, 0.26)), "duration_s": min(6 * 3600.0, 0.02 * h)}),
    ]
    return specs
