"""Adapters that give river and scikit-learn models Tvilling's detector contract, and an alert tracker.

>>> from river import anomaly
>>> det = RiverDetector(anomaly.HalfSpaceTrees(seed=1))
>>> for i in range(300):
...     det.learn_one({"v": (i % 10) / 10})
>>> 0.0 <= det.score_one({"v": 0.5}) <= 1.0
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError
from tvilling.ml.anomaly.base import Alert, Explanation

FloatArray = npt.NDArray[np.float64]


def _matrix(X: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(X, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr


class RiverDetector:
    """Any river anomaly model (``learn_one``/``score_one`` on dicts). Score range is the model's own
    (HalfSpaceTrees: ``[0, 1]``); non-finite or negative scores are reported as 0."""

    def __init__(self, model: Any, signals: Sequence[str] | None = None) -> None:
        self.model = model
        self.signals = list(signals) if signals is not None else None

    def learn_one(self, x: Mapping[str, float]) -> None:
        if self.signals is None:
            self.signals = sorted(x)
        self.model.learn_one(dict(x))

    def score_one(self, x: Mapping[str, float]) -> float:
        s = float(self.model.score_one(dict(x)))
        return s if math.isfinite(s) and s > 0.0 else 0.0

    def _dicts(self, X: npt.ArrayLike) -> list[dict[str, float]]:
        arr = _matrix(X)
        if self.signals is None:
            self.signals = [f"x{i}" for i in range(arr.shape[1])]
        names = self.signals
        return [dict(zip(names, map(float, row), strict=True)) for row in arr]

    def learn_many(self, X: npt.ArrayLike) -> None:
        for x in self._dicts(X):
            self.model.learn_one(x)

    def score_many(self, X: npt.ArrayLike) -> FloatArray:
        return np.array([self.score_one(x) for x in self._dicts(X)], dtype=np.float64)

    def score_learn_many(self, X: npt.ArrayLike) -> FloatArray:
        out = []
        for x in self._dicts(X):
            out.append(self.score_one(x))
            self.model.learn_one(x)
        return np.array(out, dtype=np.float64)


class SklearnDetector:
    """A scikit-learn novelty model with ``score_samples`` (IsolationForest, LocalOutlierFactor(novelty=True),
    OneClassSVM...), refitted on a sliding buffer of learned rows every ``refit_every`` rows.

    Score = ``max(0, -score_samples(x))`` (IsolationForest: ``(0, 1]``; 0 before the first fit, which happens
    once ``min_fit`` rows have been learned).
    """

    def __init__(self, estimator: Any, *, buffer: int = 2000, min_fit: int = 200, refit_every: int = 500,
                 signals: Sequence[str] | None = None) -> None:
        if min_fit < 2 or buffer < min_fit:
            raise ValueError("need 2 <= min_fit <= buffer")
        self.estimator = estimator
        self.buffer = buffer
        self.min_fit = min_fit
        self.refit_every = refit_every
        self.signals = list(signals) if signals is not None else None
        self._rows: list[FloatArray] = []
        self._since_fit = 0
        self._fitted = False

    def _row(self, x: Mapping[str, float]) -> FloatArray:
        if self.signals is None:
            self.signals = sorted(x)
        try:
            return np.array([float(x[s]) for s in self.signals])
        except KeyError as exc:
            raise ValidationError(f"missing signal {exc.args[0]!r}") from None

    def _learn_row(self, row: FloatArray) -> None:
        self._rows.append(np.nan_to_num(row))
        if len(self._rows) > self.buffer:
            del self._rows[0]
        self._since_fit += 1
        if (not self._fitted and len(self._rows) >= self.min_fit) or (
                self._fitted and self._since_fit >= self.refit_every):
            self.estimator.fit(np.vstack(self._rows))
            self._fitted = True
            self._since_fit = 0

    def _score_rows(self, arr: FloatArray) -> FloatArray:
        if not self._fitted:
            return np.zeros(len(arr))
        s = -np.asarray(self.estimator.score_samples(np.nan_to_num(arr)), dtype=np.float64)
        return np.where(np.isfinite(s), np.maximum(s, 0.0), 0.0)

    def learn_one(self, x: Mapping[str, float]) -> None:
        self._learn_row(self._row(x))

    def score_one(self, x: Mapping[str, float]) -> float:
        return float(self._score_rows(self._row(x)[None, :])[0])

    def _arr(self, X: npt.ArrayLike) -> FloatArray:
        arr = _matrix(X)
        if self.signals is None:
            self.signals = [f"x{i}" for i in range(arr.shape[1])]
        return arr

    def learn_many(self, X: npt.ArrayLike) -> None:
        for row in self._arr(X):
            self._learn_row(row)

    def score_many(self, X: npt.ArrayLike) -> FloatArray:
        return self._score_rows(self._arr(X))

    def score_learn_many(self, X: npt.ArrayLike) -> FloatArray:
        out = []
        for row in self._arr(X):
            out.append(float(self._score_rows(row[None, :])[0]))
            self._learn_row(row)
        return np.array(out, dtype=np.float64)


class AlertTracker:
    """Turns a score stream into alert episodes: an episode opens when the score reaches ``threshold`` and
    closes after ``quiet`` points below it; it names its contributing signals and since when.

    >>> from tvilling.ml.anomaly.base import Contribution
    >>> tr = AlertTracker(threshold=0.5, quiet=2)
    >>> ex = Explanation(0.9, (Contribution("temp", 0.8, 5.0), Contribution("flow", 0.2, 1.0)))
    >>> [tr.update(t, s, ex if s > 0.5 else None) is not None for t, s in enumerate([0.1, 0.9, 0.2, 0.1, 0.1])]
    [False, True, True, False, False]
    >>> tr.closed[0].since, tr.closed[0].signals
    (1, ('temp',))
    """

    def __init__(self, threshold: float, *, quiet: int = 10, min_share: float = 0.25) -> None:
        self.threshold = threshold
        self.quiet = quiet
        self.min_share = min_share
        self.open: Alert | None = None
        self.closed: list[Alert] = []
        self._below = 0

    def update(self, at: object, score: float, explanation: Explanation | None = None) -> Alert | None:
        """Feed one scored point; returns the open alert (if any) after this point."""
        if score >= self.threshold:
            self._below = 0
            signals = self._signals(explanation)
            if self.open is None:
                self.open = Alert(at, at, score, signals, explanation)
            else:
                merged = tuple(dict.fromkeys(self.open.signals + signals))
                peak = max(self.open.peak_score, score)
                best = explanation if score >= self.open.peak_score else self.open.explanation
                self.open = Alert(self.open.since, at, peak, merged, best)
        elif self.open is not None:
            self._below += 1
            if self._below >= self.quiet:
                self.closed.append(self.open)
                self.open = None
        return self.open

    def _signals(self, explanation: Explanation | None) -> tuple[str, ...]:
        if explanation is None or not explanation.contributions:
            return ()
        keep = [c.signal for c in explanation.contributions if c.share >= self.min_share]
        return tuple(keep or [explanation.contributions[0].signal])
