"""Drift policy for a live detector: watch its inputs and/or residuals, detect a regime change, collect a fresh
window, re-fit. Pure and clock-free; the live monitor (``app/monitoring_twin.py``) drives it and the app layer
registers what it re-fits.

What is watched (``monitor``):

* ``residuals`` — the detector's error per scored vector: for a :class:`~tvilling.ml.features.BaselineDetector`
  the mean absolute standardised deviation ``mean_i |x_i − centre_i| / scale_i`` (in its scored domain), for
  other detectors the anomaly score;
* ``inputs`` — each signal, standardised by its mean and sd over the first ``reference`` vectors after a fit;
* ``both``.

Each stream feeds its own :class:`~tvilling.ml.drift.DriftDetector` (ADWIN or Page-Hinkley). On a detection the
policy's ``action`` says what follows: ``notify`` (only the insight), ``recalibrate`` (re-fit the normalisation —
a baseline's centre and scale — on the next ``window`` vectors) or ``retrain`` (a new detector of the configured
kind learned on the next ``warmup`` vectors).

Why a fresh window *after* the detection rather than the recent past: the detection lags the change, so the
recent past mixes both regimes; the vectors after the detection are all from the new one.

Caveat (by design, say it in configuration reviews): a slowly degrading asset *is* a drift of its residuals. A
policy that recalibrates a wear detector would learn the wear as normal; use ``notify`` there, and
``recalibrate``/``retrain`` for signals whose level legitimately moves (sensor replacement, new operating point).

>>> import random
>>> from tvilling.ml.features import BaselineDetector
>>> rng = random.Random(1)
>>> det = BaselineDetector(["p"], warmup=100, log=False, direction="both")
>>> det.learn_many([[rng.gauss(10, 1)] for _ in range(100)])
>>> watch = DriftWatch(DriftPolicy(action="recalibrate", window=100), ["p"])
>>> found = None
>>> for i in range(400):  # the level moves from 10 to 16 at vector 200
...     v = rng.gauss(10.0 if i < 200 else 16.0, 1.0)
...     hit = watch.observe({"p": v}, residual(det, {"p": v}) or 0.0)
...     found = i if hit is not None and found is None else found
>>> 200 <= found < 230, watch.collecting, len(watch.window) >= 100
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tvilling.core.errors import ValidationError
from tvilling.ml.drift import DriftDetector
from tvilling.ml.features import BaselineDetector

ACTIONS = ("notify", "recalibrate", "retrain")
MONITORS = ("residuals", "inputs", "both")
METHODS = ("page_hinkley", "adwin")


@dataclass(frozen=True)
class DriftPolicy:
    """``params`` go to the drift detector unchanged (Page-Hinkley defaults: threshold 50, delta 0.005,
    min_instances 30 — in units of the watched stream, i.e. standardised deviations)."""

    action: str = "notify"
    monitor: str = "residuals"
    method: str = "page_hinkley"
    params: Mapping[str, float] = field(default_factory=dict)
    window: int = 200  # vectors re-fitted on after a detection (recalibrate)
    reference: int = 50  # vectors after a fit used to standardise the inputs before they are watched
    suppress_alerts: bool = True  # no new alert while collecting: the model is known to be stale then

    def __post_init__(self) -> None:
        problems = []
        if self.action not in ACTIONS:
            problems.append(f"action: one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.monitor not in MONITORS:
            problems.append(f"monitor: one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if self.method not in METHODS:
            problems.append(f"method: one of {', '.join(METHODS)}, got {self.method!r}")
        if self.window < 3 or self.reference < 3:
            problems.append("window and reference must be >= 3 vectors")
        if problems:
            raise ValidationError("bad drift policy: " + "; ".join(problems), where="drift")


@dataclass(frozen=True)
class DriftFound:
    source: str  # "residuals" or "input:<signal>"
    value: float  # the watched stream's value at detection
    seen: int  # vectors watched since the last fit


class DriftWatch:
    """Feeds a detector's residuals / inputs to drift detectors; after a detection collects a window."""

    def __init__(self, policy: DriftPolicy, signals: Sequence[str]) -> None:
        self.policy = policy
        self.signals = list(signals)
        self.window: list[dict[str, float]] = []
        self.collecting = False
        self._reset()

    def _new(self) -> DriftDetector:
        if self.policy.method == "adwin":
            return DriftDetector("adwin", **{"delta": 0.002, **self.policy.params})
        return DriftDetector("page_hinkley",
                             **{"threshold": 50.0, "delta": 0.005, "min_instances": 30, **self.policy.params})

    def _reset(self) -> None:
        p = self.policy
        self.seen = 0
        self.residual_sum = 0.0
        self._residual = self._new() if p.monitor in ("residuals", "both") else None
        self._inputs = {s: self._new() for s in self.signals} if p.monitor in ("inputs", "both") else {}
        self._ref: list[list[float]] = []
        self._mean: np.ndarray | None = None
        self._sd: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """A window is collected for ``recalibrate`` (``window`` vectors) — ``retrain`` asks with its own size."""
        return self.collecting and len(self.window) >= self.policy.window

    def observe(self, x: Mapping[str, float], residual_value: float) -> DriftFound | None:
        """One scored vector and the detector's residual for it; a :class:`DriftFound` on the detection step."""
        if self.collecting:
            self.window.append(dict(x))
            return None
        self.seen += 1
        self.residual_sum += residual_value
        found: DriftFound | None = None
        if self._residual is not None and self._residual.update(residual_value):
            found = DriftFound("residuals", residual_value, self.seen)
        if self._inputs:
            row = [float(x[s]) for s in self.signals]
            if self._mean is None:
                self._ref.append(row)
                if len(self._ref) >= self.policy.reference:
                    arr = np.array(self._ref)
                    self._mean, self._sd = arr.mean(axis=0), np.maximum(arr.std(axis=0), 1e-12)
                    self._ref = []
            else:
                assert self._sd is not None
                z = (np.array(row) - self._mean) / self._sd
                for s, value in zip(self.signals, z, strict=True):
                    if self._inputs[s].update(float(value)) and found is None:
                        found = DriftFound(f"input:{s}", float(value), self.seen)
        if found is not None:
            if self.policy.action == "notify":
                self._reset()  # keep watching for the next change
            else:
                self.collecting = True
                self.window = []
        return found

    def take_window(self) -> list[dict[str, float]]:
        """The collected vectors; watching starts again (fresh detectors, fresh input reference)."""
        rows, self.window, self.collecting = self.window, [], False
        self._reset()
        return rows


# -- residuals, metrics and re-fitting of the frozen baseline detector ---------------------------------------------
def _z(det: BaselineDetector, x: Mapping[str, float]) -> np.ndarray | None:
    if det.center is None or det.scale is None:
        return None
    row = np.array([float(x[s]) for s in det.signals], dtype=np.float64)
    if det.log:
        row = np.log(np.maximum(row, det.floor))
    return np.asarray((row - det.center) / det.scale)


def residual(det: Any, x: Mapping[str, float], score: float | None = None) -> float | None:
    """The watched residual of one vector: mean |standardised deviation| for a baseline detector, else ``score``."""
    if isinstance(det, BaselineDetector):
        z = _z(det, x)
        return float(np.mean(np.abs(z))) if z is not None and np.all(np.isfinite(z)) else None
    return score


def error_metrics(det: BaselineDetector, rows: Sequence[Mapping[str, float]],
                  threshold: float) -> dict[str, float | None]:
    """``residual_mae`` (mean |standardised deviation|) and ``alarm_rate`` (share of vectors scoring ≥
    threshold) of a fitted baseline detector on ``rows``; None where undefined (JSON has no NaN)."""
    if not rows:
        return {"residual_mae": None, "alarm_rate": None, "n": 0}
    res = [residual(det, x) for x in rows]
    finite = [r for r in res if r is not None]
    alarms = sum(det.score_one(x) >= threshold for x in rows)
    return {"residual_mae": round(float(np.mean(finite)), 6) if finite else None,
            "alarm_rate": round(alarms / len(rows), 6), "n": len(rows)}


def refit_baseline(old: BaselineDetector, rows: Sequence[Mapping[str, float]]) -> BaselineDetector:
    """A new baseline with ``old``'s settings, its centre and scale fitted on ``rows`` (≥ 3)."""
    if len(rows) < 3:
        raise ValidationError("re-fitting needs at least 3 vectors")
    new = BaselineDetector(old.signals, warmup=len(rows), log=old.log, direction=old.direction,
                           z_scale=old.z_scale, min_sd=old.min_sd, floor=old.floor)
    new.learn_many([[float(x[s]) for s in old.signals] for x in rows])
    new.warmup = old.warmup  # the configured warm-up, not this window's length, travels with the model
    return new
