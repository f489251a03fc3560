"""When will an asset fail? Failure-time distributions a maintenance plan weighs risk with.

Each curve answers ``cdf(hours)`` = P(the asset fails within ``hours`` from the plan's start), non-decreasing in
[0, 1]. Three sources, the ones a reliability engineer has at hand:

* **quantiles** of a remaining-useful-life estimate — what Tvilling's live RUL monitors publish
  (``insight.rul`` → ``rul_hours.quantiles``); linear between them, and beyond the first and last at the slope
  of the neighbouring segment (a tail, not a spread from time 0) until 0 and 1. Quantiles at or beyond
  ``censored_at`` (the estimator's own horizon: "not within what I can see") are not failures the curve knows of,
  so the curve stays flat after the last one below it.
* an **interval** (lower, upper at a two-sided level, e.g. an 80 % prediction interval) — a log-normal fitted
  through its two ends, the usual shape of a time to failure.
* a **Weibull** life (shape β, scale η) of an asset that has already run ``age`` hours — the conditional
  probability of failing within t more hours, for assets without a condition monitor.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol, runtime_checkable

from tvilling.core.errors import ValidationError


@runtime_checkable
class FailureCurve(Protocol):
    def cdf(self, hours: float) -> float:
        """P(failure within ``hours``), non-decreasing in [0, 1]; 0 at 0."""
        ...

    def as_dict(self) -> dict[str, Any]:
        """The curve's definition, as a planning document spells it."""
        ...


@dataclass(frozen=True)
class NoFailure:
    """A task that is not about a failure (a calendar inspection): no risk, only its window."""

    def cdf(self, hours: float) -> float:
        return 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"none": True}


MAX_QUANTILES = 1000
MAX_HOURS = 1e9  # about 114 000 years: anything longer is a typo


@dataclass(frozen=True)
class QuantileCurve:
    quantiles: tuple[float, ...]
    censored_at: float | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.quantiles) <= MAX_QUANTILES:
            raise ValidationError(f"a quantile curve needs 1 to {MAX_QUANTILES} quantiles", where="quantiles_hours")
        if any(not math.isfinite(q) or not 0 <= q <= MAX_HOURS for q in self.quantiles):
            raise ValidationError(f"quantiles must be hours between 0 and {MAX_HOURS:g}", where="quantiles_hours")
        object.__setattr__(self, "quantiles", tuple(sorted(self.quantiles)))
        cut = self.censored_at if self.censored_at is not None else math.inf
        known = [q for q in self.quantiles if q < cut]  # sorted; computed once: cdf runs once per task and day
        object.__setattr__(self, "_known", known)
        object.__setattr__(self, "_probs", [(i + 0.5) / len(self.quantiles) for i in range(len(known))])

    def cdf(self, hours: float) -> float:
        if hours <= 0.0:
            return 0.0
        n = len(self.quantiles)
        known: list[float] = self.__dict__["_known"]
        probs: list[float] = self.__dict__["_probs"]
        if not known:
            return 0.0
        if hours >= known[-1]:
            if len(known) < n:  # the rest lies beyond the estimator's horizon: no failure the curve knows of
                return probs[-1]
            # The last half-step of probability: at the slope of the last segment, reaching 1.
            x0, p0 = (0.0, 0.0) if n == 1 else (known[-2], probs[-2])
            slope = (probs[-1] - p0) / (known[-1] - x0) if known[-1] > x0 else math.inf
            return min(1.0, probs[-1] + slope * (hours - known[-1])) if hours > known[-1] else probs[-1]
        i = bisect.bisect_right(known, hours)
        if i == 0:  # below the first quantile: at the slope of the first segment, down to 0 (not from time 0)
            if len(known) == 1:
                return probs[0] * hours / known[0]
            slope = (probs[1] - probs[0]) / (known[1] - known[0]) if known[1] > known[0] else math.inf
            return max(0.0, probs[0] - slope * (known[0] - hours))
        x0, p0 = known[i - 1], probs[i - 1]
        x1, p1 = known[i], probs[i]
        return p0 if x1 <= x0 else p0 + (p1 - p0) * (hours - x0) / (x1 - x0)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quantiles_hours": list(self.quantiles)}
        if self.censored_at is not None:
            out["censored_at_hours"] = self.censored_at
        return out


@dataclass(frozen=True)
class LogNormalCurve:
    lower: float
    upper: float
    level: float = 0.8

    def __post_init__(self) -> None:
        if not (0.0 < self.level <= 0.9999):
            raise ValidationError(f"interval level {self.level} is not in (0, 0.9999]", where="rul_hours.level",
                                  hint="a two-sided level such as 0.8 for an 80 % interval")
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)) or self.upper <= 0 or self.lower < 0 \
                or self.lower > self.upper or self.upper > MAX_HOURS:
            raise ValidationError(f"RUL interval [{self.lower}, {self.upper}] h is not 0 ≤ lower ≤ upper, upper > 0",
                                  where="rul_hours", hint="give the interval's ends in hours from the plan's start")

    @property
    def _params(self) -> tuple[float, float]:
        z = NormalDist().inv_cdf(0.5 + self.level / 2.0)
        low = max(self.lower, self.upper * 1e-3)  # a lower end of 0 ("could fail now") has no logarithm
        mu = (math.log(low) + math.log(self.upper)) / 2.0
        sigma = max((math.log(self.upper) - math.log(low)) / (2.0 * z), 1e-6)
        return mu, sigma

    def cdf(self, hours: float) -> float:
        if hours <= 0.0:
            return 0.0
        mu, sigma = self._params
        return NormalDist(mu, sigma).cdf(math.log(hours))

    def as_dict(self) -> dict[str, Any]:
        return {"rul_hours": {"lower": self.lower, "upper": self.upper, "level": self.level}}


@dataclass(frozen=True)
class WeibullCurve:
    shape: float
    scale_hours: float
    age_hours: float = 0.0

    def __post_init__(self) -> None:
        if not (0.05 <= self.shape <= 50 and 0 < self.scale_hours <= MAX_HOURS and 0 <= self.age_hours <= MAX_HOURS):
            raise ValidationError("a Weibull life needs 0.05 ≤ shape ≤ 50, 0 < scale_hours ≤ 1e9 and "
                                  "0 ≤ age_hours ≤ 1e9",
                                  where="weibull", hint="e.g. {shape: 2.0, scale_hours: 20000, age_hours: 12000}")

    def cdf(self, hours: float) -> float:
        if hours <= 0.0:
            return 0.0
        b, eta, age = self.shape, self.scale_hours, self.age_hours
        try:
            return 1.0 - math.exp((age / eta) ** b - ((age + hours) / eta) ** b)
        except OverflowError:  # far past its scale: survival underflows to nothing
            return 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"weibull": {"shape": self.shape, "scale_hours": self.scale_hours, "age_hours": self.age_hours}}


@dataclass(frozen=True)
class SurvivedCurve:
    """``base`` made ``survived_hours`` ago, the asset still running: P(fails within t | survived so far)
    = (F(e + t) − F(e)) / (1 − F(e)); certain failure when the base gave it no chance to get this far."""

    base: FailureCurve
    survived_hours: float

    def cdf(self, hours: float) -> float:
        if hours <= 0.0:
            return 0.0
        before = self.base.cdf(self.survived_hours)
        if before >= 1.0 - 1e-12:
            return 1.0
        return min(1.0, max(0.0, (self.base.cdf(self.survived_hours + hours) - before) / (1.0 - before)))

    def as_dict(self) -> dict[str, Any]:
        return self.base.as_dict() | {"survived_hours": self.survived_hours}


def curve_from_dict(spec: Any, where: str = "failure") -> FailureCurve:
    """A curve from its planning-document form (see the module docstring); raises ValidationError saying which.
    ``survived_hours`` beside any source: the asset has run that long since the curve was made."""
    if isinstance(spec, dict) and spec.get("survived_hours") is not None:
        rest = {k: v for k, v in spec.items() if k != "survived_hours"}
        try:
            survived = float(spec["survived_hours"])
        except (TypeError, ValueError, OverflowError):
            survived = math.nan
        if not 0.0 <= survived <= MAX_HOURS:
            raise ValidationError("survived_hours must be hours between 0 and 1e9", where=f"{where}.survived_hours")
        return SurvivedCurve(curve_from_dict(rest, where), survived)
    return _source(spec, where)


def _source(spec: Any, where: str) -> FailureCurve:
    """A curve from its planning-document form (see the module docstring); raises ValidationError saying which."""
    hint = ("one of {quantiles_hours: [...]}, {rul_hours: {lower, upper, level}}, "
            "{weibull: {shape, scale_hours, age_hours}} or {none: true}")
    if not isinstance(spec, dict) or len(set(spec) - {"censored_at_hours", "survived_hours"}) != 1:
        raise ValidationError("a failure curve needs exactly one source", where=where, hint=hint)
    try:
        if "quantiles_hours" in spec:
            qs = spec["quantiles_hours"]
            if not isinstance(qs, list):
                raise ValidationError("quantiles_hours must be a list of hours", where=f"{where}.quantiles_hours")
            cut = spec.get("censored_at_hours")
            return QuantileCurve(tuple(float(q) for q in qs), None if cut is None else float(cut))
        if "rul_hours" in spec:
            r = spec["rul_hours"]
            if not isinstance(r, dict) or not {"lower", "upper"} <= set(r):
                raise ValidationError("rul_hours needs lower and upper", where=f"{where}.rul_hours", hint=hint)
            return LogNormalCurve(float(r["lower"]), float(r["upper"]), float(r.get("level", 0.8)))
        if "weibull" in spec:
            w = spec["weibull"]
            if not isinstance(w, dict) or not {"shape", "scale_hours"} <= set(w):
                raise ValidationError("weibull needs shape and scale_hours", where=f"{where}.weibull", hint=hint)
            return WeibullCurve(float(w["shape"]), float(w["scale_hours"]), float(w.get("age_hours", 0.0)))
        if spec.get("none") is True:
            return NoFailure()
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"not a number: {exc}", where=where, hint=hint) from None
    except ValidationError as exc:
        inner = exc.where if exc.where.startswith(where) else f"{where}.{exc.where}" if exc.where else where
        raise ValidationError(exc.message, where=inner,
                              hint=exc.hint or hint) from None
    raise ValidationError(f"unknown failure source {sorted(map(str, spec))}", where=where, hint=hint)
