"""Monte Carlo what-ifs: run one model many times with uncertain parameters and summarise the spread.

Samples are drawn by Latin hypercube (scipy.stats.qmc: every parameter's range is covered evenly even with few
samples) and mapped through each distribution's quantile function, with a fixed seed, so a run can be repeated
exactly. The answer is, per recorded output, percentile bands over time, the distribution of its final value and,
where asked, the probability that it goes above or below a limit at any time during the run.

>>> from tvilling.physics.thermal_zone import ThermalZone
>>> from tvilling.simulation.cosim import Span
>>> spread = {"UA": parse_distribution("UA", "uniform:400:600")}
>>> out = run_ensemble(ThermalZone(), Span(0.0, 86400.0, 3600.0), spread, samples=64,
...                    values={"Q_hvac": -2000.0, "T_out": 5.0}, limits={"T": ("below", 1.0)})
>>> out.samples, round(out.final["T"]["p50"], 1), 0.3 < out.exceedance["T"] < 0.7  # T ends below 1 when UA < 500
(64, 1.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats import qmc

from tvilling.core.errors import Problem, SimulationError, ValidationError
from tvilling.core.physics import check_values
from tvilling.ports.physics import PhysicsModel
from tvilling.simulation.cosim import InputTable, Span, simulate

PERCENTILES = (5, 25, 50, 75, 95)
# Distribution name -> (its parameters in order, scipy frozen distribution from them). Spreads are in the
# variable's own unit.
_KINDS: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
    "normal": (("mean", "sd"), lambda mean, sd: stats.norm(mean, sd)),
    "uniform": (("low", "high"), lambda low, high: stats.uniform(low, high - low)),
    "triangular": (("low", "mode", "high"),
                   lambda low, mode, high: stats.triang((mode - low) / (high - low), low, high - low)),
    "lognormal": (("median", "sigma"), lambda median, sigma: stats.lognorm(sigma, scale=median)),
}
MAX_SAMPLES = 1000


@dataclass(frozen=True)
class Distribution:
    """One uncertain value: ``kind`` with its parameters, e.g. normal with mean 500 and sd 50."""

    name: str
    kind: str
    params: tuple[float, ...]

    def quantiles(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(_KINDS[self.kind][1](*self.params).ppf(u), dtype=float)

    def as_dict(self) -> dict[str, Any]:
        return {"dist": self.kind, **dict(zip(_KINDS[self.kind][0], self.params, strict=True))}


def parse_distribution(name: str, spec: str | Mapping[str, Any]) -> Distribution:
    """``"normal:500:50"`` (the CLI's form) or ``{"dist": "normal", "mean": 500, "sd": 50}`` (the API's)."""
    if isinstance(spec, str):
        kind, *raw = [p.strip() for p in spec.split(":")]
        names = _KINDS[kind][0] if kind in _KINDS else ()
        given: dict[str, Any] = dict(zip(names, raw, strict=False)) if len(raw) == len(names) else {}
        if kind in _KINDS and len(raw) != len(names):
            raise _bad(name, f"{kind} takes {len(names)} numbers ({', '.join(names)}), got {len(raw)}")
    else:
        kind = str(spec.get("dist", ""))
        given = {k: v for k, v in spec.items() if k != "dist"}
    if kind not in _KINDS:
        raise _bad(name, f"unknown distribution {kind!r}")
    names = _KINDS[kind][0]
    if set(given) != set(names):
        raise _bad(name, f"{kind} needs exactly {', '.join(names)}; got {', '.join(sorted(given)) or 'nothing'}")
    try:
        params = tuple(float(given[k]) for k in names)
    except (TypeError, ValueError):
        raise _bad(name, f"the {kind} parameters must be numbers") from None
    if not all(math.isfinite(p) for p in params):
        raise _bad(name, f"the {kind} parameters must be finite")
    problem = _check(kind, params)
    if problem:
        raise _bad(name, problem)
    return Distribution(name, kind, params)


def _check(kind: str, p: tuple[float, ...]) -> str:
    if kind == "normal" and p[1] <= 0:
        return "sd must be > 0"
    if kind == "uniform" and p[1] <= p[0]:
        return "high must be greater than low"
    if kind == "triangular" and (not p[0] <= p[1] <= p[2] or p[2] <= p[0]):
        return "needs low <= mode <= high and low < high"
    if kind == "lognormal" and (p[0] <= 0 or p[1] <= 0):
        return "median and sigma must be > 0"
    return ""


def _bad(name: str, message: str) -> ValidationError:
    forms = "; ".join(f"{k}:{':'.join(v[0])}" for k, v in _KINDS.items())
    return ValidationError(f"the spread of {name!r}: {message}", where=name, hint=f"one of {forms}")


@dataclass
class EnsembleResult:
    """Percentile bands per output over time (``bands[name]["p50"][k]`` at ``times[k]``), the final value's
    statistics, the probability of crossing each given limit at any time, and every sample's values."""

    samples: int
    times: list[float]
    bands: dict[str, dict[str, list[float]]]
    final: dict[str, dict[str, float]]
    exceedance: dict[str, float]
    units: dict[str, str]
    drawn: dict[str, list[float]] = field(default_factory=dict)
    failed: int = 0
    limits: dict[str, tuple[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "failed": self.failed, "time": self.times, "bands": self.bands,
                "final": self.final, "exceedance": self.exceedance, "units": self.units, "drawn": self.drawn,
                "limits": {name: {side: level} for name, (side, level) in self.limits.items()}}


def run_ensemble(model: PhysicsModel, span: Span, spread: Mapping[str, Distribution], *, samples: int,
                 values: Mapping[str, Any] | None = None, inputs: InputTable | None = None,
                 record: Sequence[str] | None = None, limits: Mapping[str, tuple[str, float]] | None = None,
                 seed: int = 0, on_sample: Callable[[int, int], None] | None = None) -> EnsembleResult:
    """Run ``model`` ``samples`` times, each with the uncertain values drawn from ``spread`` (the rest from
    ``values``); ``limits[name] = ("above" | "below", level)`` asks for P(the output crosses the level)."""
    check_samples(samples, seed)
    if not spread:
        raise ValidationError("nothing varies: give at least one uncertain value", where="vary",
                              hint="for example UA=normal:500:50")
    check_values(model.variables, dict.fromkeys(spread, 0.0), causalities=("parameter", "input"),
                 what="uncertain values")
    limits = dict(limits or {})
    _check_limits(model, limits)
    if record:  # a limit is judged on its output's run, so that output is recorded too
        record = [*record, *(name for name in limits if name not in record)]
    names = list(spread)
    unit = qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(seed)).random(samples)
    unit = np.clip(unit, 1e-9, 1 - 1e-9)  # the quantile function of an unbounded distribution is infinite at 0, 1
    draws = {name: spread[name].quantiles(unit[:, j]) for j, name in enumerate(names)}
    runs: list[dict[str, list[float]]] = []
    times: list[float] = []
    units: dict[str, str] = {}
    failed = 0
    for i in range(samples):
        drawn = {name: float(draws[name][i]) for name in names}
        try:
            result = simulate(model, span, values={**(values or {}), **drawn}, inputs=inputs, record=record)
        except SimulationError:  # a sample the model refuses (a drawn C <= 0) is counted, not fatal
            failed += 1
            continue
        times, units = result.times, result.units
        runs.append(result.columns)
        if on_sample is not None:
            on_sample(i + 1, samples)
    if not runs:
        raise ValidationError(f"the model refused all {samples} samples", where="vary",
                              hint="narrow the spreads to values the model accepts")
    return _summarise(runs, times, units, limits, samples, failed,
                      {k: [float(x) for x in v] for k, v in draws.items()})


def check_samples(samples: int, seed: int = 0) -> None:
    if not 2 <= samples <= MAX_SAMPLES:
        raise ValidationError(f"samples must be between 2 and {MAX_SAMPLES}, got {samples}", where="samples")
    if seed < 0:
        raise ValidationError(f"the seed must be >= 0, got {seed}", where="seed")


def _check_limits(model: PhysicsModel, limits: Mapping[str, tuple[str, float]]) -> None:
    check_values(model.variables, dict.fromkeys(limits, 0.0), causalities=("output",), what="limits")
    problems = [Problem(f"the limit on {name!r} must be above or below a finite number", where=name)
                for name, (side, level) in limits.items() if side not in ("above", "below") or not math.isfinite(level)]
    if problems:
        raise ValidationError(problems[0].message, where=problems[0].where, problems=problems)


def _summarise(runs: list[dict[str, list[float]]], times: list[float], units: dict[str, str],
               limits: Mapping[str, tuple[str, float]], samples: int, failed: int,
               drawn: dict[str, list[float]]) -> EnsembleResult:
    bands: dict[str, dict[str, list[float]]] = {}
    final: dict[str, dict[str, float]] = {}
    exceedance: dict[str, float] = {}
    for name in runs[0]:
        grid = np.array([run[name] for run in runs], dtype=float)  # samples × times
        pct = np.nanpercentile(grid, PERCENTILES, axis=0)
        bands[name] = {f"p{p}": [float(v) for v in row] for p, row in zip(PERCENTILES, pct, strict=True)}
        bands[name]["mean"] = [float(v) for v in np.nanmean(grid, axis=0)]
        last = grid[:, -1]
        final[name] = {"mean": float(np.nanmean(last)), "sd": float(np.nanstd(last, ddof=1)),
                       **{f"p{p}": float(np.nanpercentile(last, p)) for p in PERCENTILES}}
        if name in limits:
            side, level = limits[name]
            crossed = (grid > level).any(axis=1) if side == "above" else (grid < level).any(axis=1)
            exceedance[name] = float(crossed.mean())
    return EnsembleResult(samples=samples - failed, times=times, bands=bands, final=final, exceedance=exceedance,
                          units=units, drawn=drawn, failed=failed, limits=dict(limits))
