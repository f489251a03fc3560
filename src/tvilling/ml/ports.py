"""Contracts of the ML engines (pure: no I/O, no clock). Each contract has a conformance check under
``tests/unit/ml/...`` that every implementation must pass."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RulEstimate:
    """Remaining useful life of one unit, in cycles, as seen at its last observed cycle.

    ``lower``/``upper`` bound a central interval with nominal coverage ``level``; ``quantiles`` are the
    predictive distribution's quantiles at probabilities ``(i + 0.5) / len(quantiles)`` (sorted, ≥ 0), from
    which :meth:`prob_failure_within` reads P(RUL ≤ h).
    """

    unit: object
    at: float
    mean: float
    lower: float
    upper: float
    level: float
    quantiles: tuple[float, ...] = ()

    def prob_failure_within(self, horizon: float) -> float:
        """P(RUL ≤ horizon): a non-decreasing step function of ``horizon`` in [0, 1]."""
        if not self.quantiles:
            return 1.0 if horizon >= self.mean else 0.0
        return bisect_right(self.quantiles, horizon) / len(self.quantiles)


@runtime_checkable
class RulEstimator(Protocol):
    """Remaining-useful-life model, fitted on run-to-failure histories.

    A history is a DataFrame with one row per (unit, cycle): the unit id, the cycle (time) column, operating
    settings and sensors. Training histories run to failure: a unit's last row is its failure cycle.
    """

    def fit(self, histories: pd.DataFrame) -> RulEstimator:
        """Learn from run-to-failure histories; returns ``self``."""
        ...

    def predict(self, histories: pd.DataFrame) -> list[RulEstimate]:
        """One estimate per unit, made at the unit's last row, in ascending unit order."""
        ...

    def predict_history(self, histories: pd.DataFrame) -> list[RulEstimate]:
        """One estimate per row (sorted by unit, cycle), each using only that unit's rows up to that cycle."""
        ...


# --- anomaly detection (owned by the anomaly-detection engine, tvilling.ml.anomaly) ---------------------------

@runtime_checkable
class AnomalyDetector(Protocol):
    """Streaming anomaly detector, river's one-sample contract plus batch forms.

    ``x`` maps signal names to values. ``score_one`` never learns; ``learn_one`` never scores. Scores are finite,
    ≥ 0, higher = more anomalous; each implementation documents its range (most are in ``[0, 1]``). Batch forms
    take a 2-D array (rows = time, columns = signals in a fixed order; a 1-D array is one signal) and must
    match the one-sample forms: ``score_learn_many(X)[t]`` equals scoring row ``t`` after learning rows ``< t``.
    """

    def learn_one(self, x: dict[str, float]) -> None: ...

    def score_one(self, x: dict[str, float]) -> float: ...

    def learn_many(self, X: Any) -> None: ...

    def score_many(self, X: Any) -> Any: ...

    def score_learn_many(self, X: Any) -> Any: ...


@runtime_checkable
class DriftDetector(Protocol):
    """Change detector on a stream of numbers: ``update`` returns True on the step where drift is detected."""

    def update(self, value: float) -> bool: ...

    @property
    def drift_detected(self) -> bool: ...
