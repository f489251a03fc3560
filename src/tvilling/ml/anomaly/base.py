"""Shared pieces of the anomaly detectors: the alert/explanation types and small helpers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError


@dataclass(frozen=True)
class Contribution:
    """How much one signal contributed to an anomaly score (share in ``[0, 1]``, shares sum to 1)."""

    signal: str
    share: float
    residual: float


@dataclass(frozen=True)
class Explanation:
    """Why a point scored high: the contributing signals, largest first."""

    score: float
    contributions: tuple[Contribution, ...] = ()

    @property
    def signals(self) -> list[str]:
        return [c.signal for c in self.contributions]


@dataclass(frozen=True)
class Alert:
    """An anomaly episode: the signals that caused it and the index/time since when it has been anomalous.

    ``since`` and ``last`` are whatever the caller uses to stamp points (row index, epoch seconds, datetime).
    """

    since: object
    last: object
    peak_score: float
    signals: tuple[str, ...]
    explanation: Explanation | None = None
    extra: dict[str, float] = field(default_factory=dict)


def first_value(x: Mapping[str, float], key: str | None) -> float:
    """The value of ``key`` in ``x``, or the only value when ``key`` is None."""
    if key is not None:
        try:
            return float(x[key])
        except KeyError:
            raise ValidationError(f"missing signal {key!r}", where=key) from None
    if len(x) != 1:
        raise ValidationError(f"a univariate detector needs exactly one signal, got {len(x)}",
                              hint="pass key=... to pick one")
    return float(next(iter(x.values())))


def explain_residuals(score: float, signals: Sequence[str], residuals: Iterable[float]) -> Explanation:
    """``score`` plus each signal's share of the squared residuals, largest first.

    Shared by every residual-based detector so their explanations read the same; all-zero residuals explain
    nothing, so no signal is named.
    """
    values = [float(r) for r in residuals]
    total = sum(r * r for r in values)
    if total <= 0.0:
        return Explanation(score)
    parts = sorted((Contribution(s, r * r / total, r) for s, r in zip(signals, values, strict=True)),
                   key=lambda c: -c.share)
    return Explanation(score, tuple(parts))


def univariate_column(X: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A batch for a univariate detector: a 1-D array, or a 2-D array with exactly one column."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise ValueError("a univariate detector takes one column")
        arr = arr[:, 0]
    return arr


class SteppedBatch:
    """Batch forms for a univariate detector whose ``_step`` scores one value and then learns it."""

    def _step(self, v: float) -> float:
        raise NotImplementedError

    def learn_many(self, X: npt.ArrayLike) -> None:
        for v in univariate_column(X).tolist():
            self._step(v)

    def score_learn_many(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Prequential batch: row ``t`` is scored with rows ``< t`` only, then learned."""
        step = self._step
        return np.fromiter((step(v) for v in univariate_column(X).tolist()), dtype=np.float64)


class SteppedUnivariate(SteppedBatch):
    """The whole contract for a univariate detector that defines ``_step`` (score the value, then learn it) and
    ``_score_value`` (score it against the current state, learning nothing); ``key`` names the signal to read."""

    key: str | None = None

    def _score_value(self, v: float) -> float:
        raise NotImplementedError

    def score_one(self, x: Mapping[str, float]) -> float:
        """Score ``x`` as the next value without learning it (higher = more anomalous)."""
        return self._score_value(first_value(x, self.key))

    def learn_one(self, x: Mapping[str, float]) -> None:
        self._step(first_value(x, self.key))

    def score_learn_one(self, x: Mapping[str, float]) -> float:
        return self._step(first_value(x, self.key))

    def score_many(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Score each row as the next value against the current state (rows are independent)."""
        return np.array([self._score_value(v) for v in univariate_column(X).tolist()], dtype=np.float64)
