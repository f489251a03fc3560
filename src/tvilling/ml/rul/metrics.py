"""Scores for RUL predictions (C-MAPSS / PHM08 conventions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tvilling.core.errors import ValidationError


def _pair(pred: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=float)
    t = np.asarray(true, dtype=float)
    if p.shape != t.shape or p.ndim != 1:
        raise ValidationError(f"predictions {p.shape} and truth {t.shape} must be 1-D of the same length")
    if len(p) == 0:
        raise ValidationError("no predictions to score")
    return p, t


def rmse(pred: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> float:
    """Root-mean-square error.

    >>> rmse([1.0, 3.0], [0.0, 0.0])
    2.23606797749979
    """
    p, t = _pair(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def phm08_score(pred: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> float:
    """PHM08 asymmetric score Σ exp(-d/13) − 1 (d < 0), exp(d/10) − 1 (d ≥ 0), d = pred − true: late
    predictions (d > 0) cost more than early ones.

    >>> round(phm08_score([10.0, 0.0], [0.0, 13.0]), 6)
    3.436564
    """
    p, t = _pair(pred, true)
    d = p - t
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def interval_coverage(lower: Sequence[float] | np.ndarray, upper: Sequence[float] | np.ndarray,
                      true: Sequence[float] | np.ndarray) -> float:
    """Share of truths inside [lower, upper] (bounds included)."""
    lo, t = _pair(lower, true)
    hi, _ = _pair(upper, true)
    return float(np.mean((lo <= t) & (t <= hi)))
