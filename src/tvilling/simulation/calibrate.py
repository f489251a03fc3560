"""Calibrate a physics model on measurements: the parameter values that make it reproduce what the plant did.

The model is driven by the measured inputs (held between samples) on the measurements' own time grid, and
``scipy.optimize.least_squares`` (trust-region reflective, within the given bounds) minimises the difference between
its outputs and the measured ones, each output scaled by its measured spread so that no unit dominates. The answer
has the fitted values with approximate 95 % intervals (from the Jacobian at the optimum), and the error before and
after, per output — the first step of a hybrid twin: a physics model that matches this asset.

>>> import math
>>> from tvilling.physics.thermal_zone import ThermalZone
>>> times = [600.0 * k for k in range(49)]
>>> q = [2000.0 if k % 12 < 6 else -1000.0 for k in range(49)]          # heating, then cooling, every hour
>>> truth = ThermalZone(); truth.initialize({"UA": 350.0, "C": 3.0e6, "T_out": 5.0, "Q_hvac": q[0]})
>>> temp = [truth.outputs()["T"]] + [truth.step(600.0, {"Q_hvac": q[k]})["T"] for k in range(48)]
>>> data = Measurements.from_columns(times, inputs={"Q_hvac": q}, outputs={"T": temp})
>>> fit = calibrate(ThermalZone(), data, {"UA": (100.0, 2000.0), "C": (1e6, 1e7)}, values={"T_out": 5.0})
>>> round(fit.values["UA"]), round(fit.values["C"] / 1e6, 2), fit.rmse_after["T"] < 1e-6
(350, 3.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from tvilling.core.errors import Problem, SimulationError, ValidationError
from tvilling.core.physics import check_values
from tvilling.ports.physics import PhysicsModel
from tvilling.simulation.cosim import InputTable, simulate_at

MAX_ROWS = 200_000
# A trial point the model refuses gets this residual per sample (in spreads): far worse than any fit, yet finite,
# as least_squares needs, so the optimiser steps away from it.
REFUSED = 1e3


@dataclass(frozen=True)
class Measurements:
    """Samples at ``times`` (s, increasing): the inputs that drove the asset and the outputs it showed."""

    times: tuple[float, ...]
    inputs: Mapping[str, tuple[float, ...]]
    outputs: Mapping[str, tuple[float, ...]]

    @classmethod
    def from_columns(cls, times: Sequence[float], *, inputs: Mapping[str, Sequence[float]],
                     outputs: Mapping[str, Sequence[float]]) -> Measurements:
        problems: list[Problem] = []
        n = len(times)
        if n < 3:
            problems.append(Problem(f"{n} samples are too few to calibrate on", where="time",
                                    hint="give at least three rows, better hundreds"))
        if n > MAX_ROWS:
            problems.append(Problem(f"{n} samples is more than the limit of {MAX_ROWS}", where="time",
                                    hint="resample the data to a coarser step"))
        bad_t = next((i for i, t in enumerate(times) if not math.isfinite(t) or (i and t <= times[i - 1])), None)
        if bad_t is not None:
            problems.append(Problem("times must be finite and increase", where=f"row {bad_t + 1}",
                                    hint="sort the rows by time and drop duplicates"))
        if not outputs:
            problems.append(Problem("no measured output to compare with", where="compare",
                                    hint="name at least one output and the column that measured it"))
        for kind, columns in (("input", inputs), ("output", outputs)):
            for name, values in columns.items():
                if len(values) != n:
                    problems.append(Problem(f"the {kind} {name!r} has {len(values)} values for {n} times", where=name))
                elif kind == "input" and not all(math.isfinite(v) for v in values):
                    problems.append(Problem(f"the input {name!r} has missing values", where=name,
                                            hint="fill or drop those rows: the model needs every input"))
                elif kind == "output" and sum(math.isfinite(v) for v in values) < 2:
                    problems.append(Problem(f"the measured {name!r} has fewer than two values", where=name))
        if problems:
            raise ValidationError(problems[0].message if len(problems) == 1 else
                                  f"{len(problems)} problems with the measurements: {problems[0].message}; …",
                                  where=problems[0].where, hint=problems[0].hint, problems=problems)
        return cls(tuple(float(t) for t in times), {k: tuple(map(float, v)) for k, v in inputs.items()},
                   {k: tuple(map(float, v)) for k, v in outputs.items()})


@dataclass
class Calibration:
    """Fitted ``values`` with ``intervals`` (approximate 95 %, from the Jacobian; None where it cannot tell), the
    RMSE per output before (at ``initial``) and after, and how the optimiser ended."""

    values: dict[str, float]
    initial: dict[str, float]
    intervals: dict[str, tuple[float, float] | None]
    rmse_before: dict[str, float]
    rmse_after: dict[str, float]
    units: dict[str, str]
    evaluations: int
    converged: bool
    message: str
    samples: int
    at_bound: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"values": self.values, "initial": self.initial,
                "intervals": {k: list(v) if v is not None else None for k, v in self.intervals.items()},
                "rmseBefore": self.rmse_before, "rmseAfter": self.rmse_after, "units": self.units,
                "evaluations": self.evaluations, "converged": self.converged, "message": self.message,
                "samples": self.samples, "atBound": self.at_bound}


def calibrate(model: PhysicsModel, data: Measurements, fit: Mapping[str, tuple[float, float]], *,
              values: Mapping[str, Any] | None = None, initial: Mapping[str, float] | None = None,
              max_evaluations: int = 200) -> Calibration:
    """Fit the parameters in ``fit`` (name → (low, high) bounds) so the model's outputs match ``data``.

    ``values`` fixes other parameters and inputs' values where the data has no column for them; ``initial`` is the
    starting point (default: each parameter's start value if within its bounds, else the bounds' middle).
    """
    _check_request(model, data, fit)
    names = list(fit)
    lows = np.array([fit[n][0] for n in names], dtype=float)
    highs = np.array([fit[n][1] for n in names], dtype=float)
    starts = {v.name: v.start for v in model.variables}
    x0 = np.array([_start(n, (initial or {}).get(n, starts.get(n)), lows[i], highs[i]) for i, n in enumerate(names)])
    measured = {k: np.array(v) for k, v in data.outputs.items()}
    scales = {k: float(np.nanstd(v)) or 1.0 for k, v in measured.items()}
    fixed = dict(values or {})

    def residuals(x: np.ndarray) -> np.ndarray:
        try:
            predicted = run(model, data, {**fixed, **dict(zip(names, map(float, x), strict=True))})
        except SimulationError:
            return np.full(sum(int(np.isfinite(m).sum()) for m in measured.values()), REFUSED)
        return np.concatenate([((predicted[k] - m) / scales[k])[np.isfinite(m)] for k, m in measured.items()])

    before = _rmse(model, data, {**fixed, **dict(zip(names, map(float, x0), strict=True))}, measured)
    result = least_squares(residuals, x0, bounds=(lows, highs), x_scale="jac", max_nfev=max_evaluations)
    fitted = dict(zip(names, map(float, result.x), strict=True))
    after = _rmse(model, data, {**fixed, **fitted}, measured)
    units = {v.name: v.unit for v in model.variables if v.name in (*names, *measured) and v.unit}
    return Calibration(values=fitted, initial=dict(zip(names, map(float, x0), strict=True)),
                       intervals=_intervals(result, names), rmse_before=before, rmse_after=after, units=units,
                       # finite-difference Jacobians cost one run per fitted parameter each
                       evaluations=int(result.nfev) + int(result.njev or 0) * len(names),
                       converged=bool(result.success), message=str(result.message),
                       samples=len(data.times),
                       at_bound=[n for i, n in enumerate(names) if result.active_mask[i] != 0])


def run(model: PhysicsModel, data: Measurements, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The model driven by the measured inputs (held between samples) on the data's time grid: each output at
    every sample time."""
    inputs = InputTable(data.times, data.inputs) if data.inputs else None  # already checked by Measurements
    result = simulate_at(model, data.times, values=values, inputs=inputs, record=list(data.outputs))
    return {name: np.asarray(series) for name, series in result.columns.items()}


def _rmse(model: PhysicsModel, data: Measurements, values: Mapping[str, Any],
          measured: Mapping[str, np.ndarray]) -> dict[str, float]:
    try:
        predicted = run(model, data, values)
    except SimulationError:
        return {k: math.inf for k in measured}
    return {k: float(np.sqrt(np.nanmean((predicted[k] - m) ** 2))) for k, m in measured.items()}


def _intervals(result: Any, names: list[str]) -> dict[str, tuple[float, float] | None]:
    """±1.96 standard errors from (JᵀJ)⁻¹ s²; None for a parameter the data does not pin down."""
    jac, res = np.asarray(result.jac), np.asarray(result.fun)
    dof = max(len(res) - len(names), 1)
    s2 = float(res @ res) / dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return dict.fromkeys(names)
    out: dict[str, tuple[float, float] | None] = {}
    for i, name in enumerate(names):
        se = math.sqrt(cov[i, i]) if cov[i, i] >= 0 and math.isfinite(cov[i, i]) else math.nan
        value = float(result.x[i])
        out[name] = (value - 1.96 * se, value + 1.96 * se) if math.isfinite(se) else None
    return out


def _start(name: str, start: Any, low: float, high: float) -> float:
    try:
        value = float(start)
    except (TypeError, ValueError):
        value = math.nan
    return value if low <= value <= high else (low + high) / 2.0


def _check_request(model: PhysicsModel, data: Measurements, fit: Mapping[str, tuple[float, float]]) -> None:
    if not fit:
        raise ValidationError("nothing to fit: name at least one parameter with its bounds", where="fit",
                              hint="for example UA=100:2000")
    check_values(model.variables, dict.fromkeys(fit, 0.0), causalities=("parameter",), what="fitted parameters")
    check_values(model.variables, dict.fromkeys(data.inputs, 0.0), causalities=("input",), what="inputs")
    check_values(model.variables, dict.fromkeys(data.outputs, 0.0), causalities=("output",), what="compared outputs")
    bad = [n for n, (low, high) in fit.items() if not (math.isfinite(low) and math.isfinite(high) and low < high)]
    if bad:
        raise ValidationError(f"the bounds of {bad[0]!r} must be finite with low < high", where=bad[0],
                              hint=f"for example {bad[0]}=100:2000")
