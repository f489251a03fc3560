"""Condition-monitoring features: a frozen-baseline detector and a rolling median for spike-robust signals.

Slow degradation (a bearing spall growing over weeks) is exactly what an adaptive detector learns to accept:
its running mean follows the drift and the score never rises. :class:`BaselineDetector` therefore learns a
robust baseline (median and MAD per signal, optionally in log space) during a warm-up on the healthy asset and
then FREEZES it, scoring how far each signal has moved from that commissioning state. It follows the detector
contract (``learn_one`` / ``score_one`` and batch forms, score in ``[0, 1)``) and explains its scores like
:class:`~tvilling.ml.anomaly.MultivariateDetector` does.

>>> import random
>>> rng = random.Random(3)
>>> det = BaselineDetector(["env", "rms"], warmup=200)
>>> for _ in range(200):
...     det.learn_one({"env": 0.04 * rng.lognormvariate(0, 0.08), "rms": 0.8 * rng.lognormvariate(0, 0.03)})
>>> det.fitted, det.score_one({"env": 0.04, "rms": 0.8}) < 0.1
(True, True)
>>> det.score_one({"env": 0.4, "rms": 0.8}) > 0.99, det.explain_one({"env": 0.4, "rms": 0.8}).signals[0]
(True, 'env')
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError
from tvilling.ml.anomaly.base import Explanation, explain_residuals

FloatArray = npt.NDArray[np.float64]
_MAD_TO_SD = 1.4826  # MAD of a Gaussian sample x 1.4826 estimates its standard deviation


class RollingMedian:
    """Median of the last ``size`` values: one spike (a transmitter glitch) cannot move it.

    >>> m = RollingMedian(3)
    >>> [m.update(v) for v in (1.0, 100.0, 2.0, 3.0)]
    [1.0, 50.5, 2.0, 3.0]
    """

    def __init__(self, size: int = 5) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._values: deque[float] = deque(maxlen=size)

    def update(self, value: float) -> float:
        self._values.append(value)
        ordered = sorted(self._values)  # a handful of values: plain sorting beats numpy's call overhead
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


class BaselineDetector:
    """Distance from a frozen healthy baseline, per signal, in robust standard deviations.

    Parameters:
        signals: the signal names (fixed order).
        warmup: points learned before the baseline is fitted and frozen; ``learn_one`` is a no-op afterwards.
        log: score ``log(x)`` (for positive, multiplicative signals: vibration levels scatter in proportion to
            their size); values ≤ 0 are floored at ``floor``.
        direction: ``"up"`` scores only increases (wear raises vibration; a stopped machine is not a fault),
            ``"both"`` scores either way.
        z_scale: the distance (in robust sd) that maps to ``1 - e^{-1/2}``.
        min_sd: lower bound on a signal's sd (in the scored domain) so a quantised, constant signal cannot
            turn a single step into an infinite distance.
        floor: smallest value used when taking logs.

    Score: ``1 - exp(-(q / z_scale)^2 / 2)`` with ``q`` the largest (one-sided) distance; ``0`` until fitted.
    """

    def __init__(self, signals: Sequence[str], *, warmup: int = 200, log: bool = True,
                 direction: str = "up", z_scale: float = 3.0, min_sd: float = 0.02, floor: float = 1e-9) -> None:
        if not signals:
            raise ValidationError("a baseline detector needs at least one signal")
        if direction not in ("up", "both"):
            raise ValidationError(f"direction must be 'up' or 'both', got {direction!r}")
        if warmup < 3:
            raise ValidationError("warmup must be >= 3 points")
        self.signals = list(signals)
        self.warmup = warmup
        self.log = log
        self.direction = direction
        self.z_scale = z_scale
        self.min_sd = min_sd
        self.floor = floor
        self._buffer: list[FloatArray] = []
        self.center: FloatArray | None = None
        self.scale: FloatArray | None = None

    @property
    def fitted(self) -> bool:
        return self.center is not None

    def baseline(self, signal: str) -> float:
        """The baseline level of ``signal`` in its own unit (the median seen during warm-up)."""
        if self.center is None:
            raise ValidationError("the baseline is not fitted yet")
        c = float(self.center[self.signals.index(signal)])
        return math.exp(c) if self.log else c

    # -- one-sample contract --------------------------------------------------------------------------
    def learn_one(self, x: Mapping[str, float]) -> None:
        self._learn_row(self._row(x))

    def score_one(self, x: Mapping[str, float]) -> float:
        return self._score(self._distances(self._row(x)))

    def explain_one(self, x: Mapping[str, float]) -> Explanation:
        """Score plus each signal's share of the squared distances, largest first."""
        d = self._distances(self._row(x))
        return explain_residuals(self._score(d), self.signals, d)

    # -- batch forms (columns in ``signals`` order) -----------------------------------------------------
    def learn_many(self, X: npt.ArrayLike) -> None:
        for row in self._matrix(X):
            self._learn_row(row)

    def score_many(self, X: npt.ArrayLike) -> FloatArray:
        return np.array([self._score(self._distances(r)) for r in self._matrix(X)], dtype=np.float64)

    def score_learn_many(self, X: npt.ArrayLike) -> FloatArray:
        arr = self._matrix(X)
        out = np.empty(len(arr))
        for t, row in enumerate(arr):
            out[t] = self._score(self._distances(row))
            self._learn_row(row)
        return out

    # -- internals ------------------------------------------------------------------------------------
    def _row(self, x: Mapping[str, float]) -> FloatArray:
        try:
            return self._transform(np.array([float(x[s]) for s in self.signals], dtype=np.float64))
        except KeyError as exc:
            raise ValidationError(f"missing signal {exc.args[0]!r}", where=str(exc.args[0])) from None

    def _matrix(self, X: npt.ArrayLike) -> FloatArray:
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.shape[1] != len(self.signals):
            raise ValidationError(f"expected {len(self.signals)} columns, got {arr.shape[1]}")
        return np.array([self._transform(r) for r in arr])

    def _transform(self, row: FloatArray) -> FloatArray:
        return np.log(np.maximum(row, self.floor)) if self.log else row

    def _learn_row(self, row: FloatArray) -> None:
        if self.center is not None:
            return  # frozen: learning the degradation would hide it
        if np.all(np.isfinite(row)):
            self._buffer.append(row)
        if len(self._buffer) >= self.warmup:
            data = np.vstack(self._buffer)
            self.center = np.median(data, axis=0)
            mad = np.median(np.abs(data - self.center), axis=0)
            self.scale = np.maximum(_MAD_TO_SD * mad, self.min_sd)
            self._buffer = []

    def _distances(self, row: FloatArray) -> FloatArray:
        if self.center is None or self.scale is None:
            return np.zeros(len(self.signals))
        d = np.nan_to_num((row - self.center) / self.scale, nan=0.0, posinf=1e6, neginf=-1e6)
        return np.maximum(d, 0.0) if self.direction == "up" else np.abs(d)

    def _score(self, d: FloatArray) -> float:
        q = float(np.max(d)) / self.z_scale if len(d) else 0.0
        return 1.0 - math.exp(-0.5 * q * q)
