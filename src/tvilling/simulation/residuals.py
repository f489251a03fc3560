"""Model-based fault detection: where does the asset stop behaving like its physics model?

The model is driven by the measured inputs (as in calibration, :func:`tvilling.simulation.calibrate.run`), and
each measured output is compared with the model's: the residual ``measured − model``. A healthy asset leaves
residuals that are noise around a small bias; a fault the model does not contain (fouling, a stuck damper, lost
insulation, a drifting sensor) moves the residuals out of that band, even while the raw signals stay within their
normal range because the inputs (weather, load) moved them too — which is why residuals, not raw values, are what
a hybrid twin watches.

The first ``reference_rows`` rows are the *reference*: a period known to be healthy (typically the one the model
was calibrated on). Each output's residual is standardised by the reference's median and robust spread and
watched by two classic control charts (fault detection and isolation, Montgomery, *Introduction to Statistical
Quality Control*, ch. 9): an EWMA chart for lasting shifts, whose limit is ``ewma_limit`` times the spread the
EWMA itself showed over the reference (so autocorrelated residuals do not raise false alarms), and a point chart
for single residuals beyond ``point_limit`` reference spreads. A row's score is the largest ratio of a chart to
its limit over the outputs: 1 or more is anomalous. Flagged rows less than ``1 / ewma_weight`` rows apart form
one episode, which names the outputs that crossed a limit and their mean residual: the fault's signature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tvilling.core.errors import ValidationError
from tvilling.ports.physics import PhysicsModel
from tvilling.simulation.calibrate import Measurements, run

MIN_REFERENCE_ROWS = 10


@dataclass(frozen=True)
class Charts:
    """Settings of the residual charts (defaults: λ = 0.1, EWMA limit 4 reference spreads, point limit 5)."""

    ewma_weight: float = 0.1
    ewma_limit: float = 4.0
    point_limit: float = 5.0

    def check(self) -> None:
        if not 0.0 < self.ewma_weight <= 1.0:
            raise ValidationError(f"the EWMA weight must be in (0, 1], got {self.ewma_weight}", where="ewmaWeight")
        for name, value in (("ewmaLimit", self.ewma_limit), ("pointLimit", self.point_limit)):
            if not value > 0:
                raise ValidationError(f"{name} must be > 0, got {value}", where=name)


@dataclass(frozen=True)
class ResidualReport:
    times: tuple[float, ...]
    measured: dict[str, np.ndarray]
    model: dict[str, np.ndarray]
    residual: dict[str, np.ndarray]
    reference_rows: int
    ratio: dict[str, np.ndarray]  # per output and row: max(|EWMA| / its limit, |z| / point limit)
    charts: Charts
    units: dict[str, str]

    @property
    def score(self) -> np.ndarray:
        return np.asarray(np.max(np.column_stack(list(self.ratio.values())), axis=1))

    @property
    def anomalous(self) -> np.ndarray:
        return self.score >= 1.0

    def stats(self) -> dict[str, dict[str, float | None]]:
        """Per output: the residual's bias and RMSE over the reference rows and after them, its largest magnitude
        after them (None where there is no value), and the number of anomalous rows after the reference."""
        out: dict[str, dict[str, float | None]] = {}
        r0 = self.reference_rows
        for name, r in self.residual.items():
            ref, rest = r[:r0], r[r0:]
            out[name] = {"biasReference": _stat(ref, np.mean), "rmseReference": _stat(ref, _rms),
                         "biasAfter": _stat(rest, np.mean), "rmseAfter": _stat(rest, _rms),
                         "maxAbsAfter": _stat(rest, lambda a: np.max(np.abs(a))),
                         "anomalousRowsAfter": float(np.sum(self.ratio[name][r0:] >= 1.0))}
        return out

    def episodes(self) -> list[dict[str, Any]]:
        """Runs of anomalous rows (closer than 1/λ rows merge): start and end times, rows, whether it reaches past
        the reference, the outputs that crossed a limit (largest ratio first), and each one's mean residual."""
        flagged = np.flatnonzero(self.anomalous)
        if flagged.size == 0:
            return []
        gap = max(1, round(1.0 / self.charts.ewma_weight))
        cuts = np.flatnonzero(np.diff(flagged) > gap)
        out = []
        for first, last in zip(np.r_[flagged[0], flagged[cuts + 1]], np.r_[flagged[cuts], flagged[-1]],
                               strict=True):
            span = slice(int(first), int(last) + 1)
            peaks = {k: float(np.max(v[span])) for k, v in self.ratio.items()}
            names = sorted((k for k, p in peaks.items() if p >= 1.0), key=lambda k: -peaks[k])
            out.append({"start": self.times[int(first)], "end": self.times[int(last)],
                        "rows": int(last - first + 1), "peakScore": round(max(peaks.values()), 3),
                        # one within the reference says the reference itself was not healthy
                        "afterReference": bool(last >= self.reference_rows),
                        "outputs": names,
                        "meanResidual": {k: _stat(self.residual[k][span], np.mean) for k in names}})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"time": list(self.times), "referenceRows": self.reference_rows,
                "measured": {k: _json(v) for k, v in self.measured.items()},
                "model": {k: _json(v) for k, v in self.model.items()},
                "residual": {k: _json(v) for k, v in self.residual.items()},
                "score": _json(np.round(self.score, 4)), "anomalous": [bool(f) for f in self.anomalous],
                "stats": self.stats(), "episodes": self.episodes(), "units": self.units,
                "charts": {"ewmaWeight": self.charts.ewma_weight, "ewmaLimit": self.charts.ewma_limit,
                           "pointLimit": self.charts.point_limit},
                "anomalousRows": int(np.sum(self.anomalous[self.reference_rows:]))}


def analyse_residuals(model: PhysicsModel, data: Measurements, values: Mapping[str, Any], *,
                      reference_rows: int | None = None, charts: Charts | None = None) -> ResidualReport:
    """Run ``model`` with ``values`` on the measured inputs, compare every measured output, chart the residuals.
    ``reference_rows`` (default: the first 20 % of the rows) are taken as healthy."""
    charts = charts or Charts()
    charts.check()
    n = len(data.times)
    ref = max(n // 5, MIN_REFERENCE_ROWS) if reference_rows is None else int(reference_rows)
    if not MIN_REFERENCE_ROWS <= ref < n:
        raise ValidationError(f"the reference must be between {MIN_REFERENCE_ROWS} rows and one row fewer than "
                              f"the {n} given, got {ref}", where="referenceRows",
                              hint="the reference is the healthy period at the start of the data, e.g. the rows "
                              "the model was calibrated on")
    predicted = run(model, data, values)
    measured = {k: np.asarray(v, dtype=float) for k, v in data.outputs.items()}
    residual = {k: measured[k] - predicted[k] for k in measured}
    ratio = {}
    for name, r in residual.items():
        if np.isfinite(r[:ref]).sum() < MIN_REFERENCE_ROWS:
            raise ValidationError(f"the output {name!r} has fewer than {MIN_REFERENCE_ROWS} values in the "
                                  "reference rows (measured and modelled)", where=name,
                                  hint="start the data in a period where it was measured, or lengthen the reference")
        ratio[name] = chart_ratio(r, ref, charts)
    units = {v.name: v.unit for v in model.variables if v.name in residual and v.unit}
    return ResidualReport(tuple(data.times), measured, predicted, residual, ref, ratio, charts, units)


@dataclass(frozen=True)
class Reference:
    """What a healthy reference period says about one output's residual: its centre and spread, and the spread of
    the EWMA of the standardised residual; ``level`` is that EWMA at the reference's end (where charting goes on)."""

    center: float
    spread: float
    ewma_sd: float
    level: float

    @classmethod
    def fit(cls, residual: np.ndarray, charts: Charts) -> Reference:
        ok = residual[np.isfinite(residual)]
        if ok.size < MIN_REFERENCE_ROWS:
            raise ValidationError(f"{ok.size} residuals are too few for a reference (at least {MIN_REFERENCE_ROWS})",
                                  where="referenceRows", hint="lengthen the healthy reference period")
        center = float(np.median(ok))
        # An upper 95 % confidence bound on the spread rather than the estimate itself: the limits hold for the
        # asset, not for the reference's sample (the MAD's relative standard error is ≈ 1 / sqrt(0.74 n) for
        # Gaussian noise).
        spread = _robust_sd(ok - center) * (1.0 + 2.0 / math.sqrt(0.74 * ok.size))
        lam = charts.ewma_weight
        ewma = _ewma((residual - center) / spread, lam, 0.0)
        # The EWMA's own spread over the reference, after its start-up (1/λ rows): honest for autocorrelated
        # residuals; never below the spread the EWMA of white noise has, sqrt(λ / (2 − λ)): a few hundred strongly
        # correlated EWMA values estimate their own spread poorly, and an underestimate would raise false alarms.
        burn = min(round(1.0 / lam), max(len(residual) // 2, 1))
        ewma_sd = max(_robust_sd(ewma[burn:]), math.sqrt(lam / (2.0 - lam)))
        return cls(center, spread, ewma_sd, float(ewma[-1]))

    def as_dict(self) -> dict[str, float]:
        return {"center": self.center, "spread": self.spread, "ewmaSd": self.ewma_sd, "level": self.level}

    @classmethod
    def from_dict(cls, doc: Any) -> Reference:
        """Back from :meth:`as_dict` (a stored artifact): finite numbers, positive spreads, or ValidationError."""
        try:
            values = [float(doc[k]) for k in ("center", "spread", "ewmaSd", "level")]
        except (KeyError, TypeError, ValueError):
            raise ValidationError("a residual reference needs center, spread, ewmaSd and level") from None
        if not all(math.isfinite(v) for v in values) or values[1] <= 0 or values[2] <= 0:
            raise ValidationError("a residual reference needs finite numbers and positive spreads")
        return cls(*values)

    def ratios(self, residual: np.ndarray, charts: Charts, level: float) -> np.ndarray:
        """Chart-to-limit ratios of ``residual`` with the EWMA starting at ``level``; missing residuals leave the EWMA
        where it was and score 0."""
        z = (residual - self.center) / self.spread
        ewma = _ewma(z, charts.ewma_weight, level)
        with np.errstate(invalid="ignore"):
            ratio = np.maximum(np.abs(ewma) / (charts.ewma_limit * self.ewma_sd), np.abs(z) / charts.point_limit)
        return np.asarray(np.where(np.isfinite(z), ratio, 0.0))


def chart_ratio(residual: np.ndarray, reference_rows: int, charts: Charts) -> np.ndarray:
    """Per row, the larger of |EWMA of the standardised residual| / its limit and |standardised residual| / the
    point limit, the limits set on the first ``reference_rows`` (which are scored with them too)."""
    ref = Reference.fit(residual[:reference_rows], charts)
    return ref.ratios(residual, charts, 0.0)


class ResidualChart:
    """:func:`chart_ratio` one residual at a time, for a live twin: the first ``reference_rows`` finite residuals
    are learned (no score), then each residual gets the same ratio the batch analysis would give it."""

    def __init__(self, reference_rows: int, charts: Charts | None = None) -> None:
        self.charts = charts or Charts()
        self.charts.check()
        if reference_rows < MIN_REFERENCE_ROWS:
            raise ValidationError(f"the reference needs at least {MIN_REFERENCE_ROWS} rows, got {reference_rows}",
                                  where="referenceRows")
        self.reference_rows = reference_rows
        self.reference: Reference | None = None
        self.level = 0.0
        self._learning: list[float] = []

    @property
    def learned(self) -> int:
        return self.reference_rows if self.reference is not None else len(self._learning)

    def use(self, reference: Reference) -> None:
        """Start from a reference learned before (by this chart in an earlier run): no learning, EWMA at 0."""
        self.reference, self.level, self._learning = reference, 0.0, []

    def update(self, residual: float) -> float | None:
        """The ratio of this residual (None while the reference is being learned; 0 for a missing one)."""
        if self.reference is None:
            if math.isfinite(residual):
                self._learning.append(residual)
            if len(self._learning) < self.reference_rows:
                return None
            self.reference = Reference.fit(np.asarray(self._learning), self.charts)
            self.level, self._learning = self.reference.level, []
            return None
        if not math.isfinite(residual):
            return 0.0
        ref, c = self.reference, self.charts
        z = (residual - ref.center) / ref.spread
        self.level += c.ewma_weight * (z - self.level)
        return max(abs(self.level) / (c.ewma_limit * ref.ewma_sd), abs(z) / c.point_limit)


def _ewma(z: np.ndarray, lam: float, level: float) -> np.ndarray:
    out = np.empty(len(z))
    for i, v in enumerate(z.tolist()):
        if math.isfinite(v):
            level += lam * (v - level)
        out[i] = level
    return out


def _robust_sd(a: np.ndarray) -> float:
    """1.4826 × the median absolute deviation (the sd for Gaussian noise), with the plain sd when that is 0 and a
    tiny floor for a constant series (then any change is a large deviation)."""
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 1.0
    mad = 1.4826 * float(np.median(np.abs(a - np.median(a))))
    sd = mad if mad > 0 else float(np.std(a))
    return max(sd, 1e-9 * max(1.0, float(np.max(np.abs(a)))))


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a ** 2)))


def _stat(a: np.ndarray, fn: Any) -> float | None:
    a = a[np.isfinite(a)]
    return round(float(fn(a)), 6) if a.size else None


def _json(a: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(a, dtype=float).tolist()]
