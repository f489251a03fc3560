"""Offline detection on a table of signals (what ``tvilling detect`` runs), without labels.

Every row is scored causally (with the rows before it only), then learned. The scorers:

* per signal, two :class:`EnsembleDetector` s: the default one (alert shaping on, so its context and shape tests
  speak at the onset of something new rather than for as long as the novel shape stays in their window) and
  one with only the EW statistics and no shaping (so every row of a spike or of a fresh level shift is flagged);
* with two or more signals, a :class:`MultivariateDetector` across them (correlation breaks).

A row's score is the maximum of these; the contributing signal is the one with the largest univariate score or
multivariate residual share. Threshold rule (no labels): the ``quantile`` (default 0.995) of the training rows'
scores after the warm-up, raised to at least ``floor`` (0.5: evidence strength 1, i.e. about 5.7 sd for a
univariate spike or a 3.5 sd multivariate residual) so that a perfectly quiet training period does not turn
small wiggles into alarms, and capped at 0.9999.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError
from tvilling.ml.anomaly.base import Alert, Contribution, Explanation
from tvilling.ml.anomaly.multivariate import MultivariateDetector
from tvilling.ml.anomaly.univariate import EnsembleDetector
from tvilling.ml.anomaly.wrappers import AlertTracker

FloatArray = npt.NDArray[np.float64]


@dataclass
class DetectionResult:
    scores: FloatArray
    is_anomaly: npt.NDArray[np.bool_]
    threshold: float
    train_rows: int
    top_signal: list[str]
    alerts: list[Alert] = field(default_factory=list)


def detect_table(values: npt.ArrayLike, signals: Sequence[str], *, train_rows: int | None = None,
                 quantile: float = 0.995, floor: float = 0.5, warmup: int = 50) -> DetectionResult:
    """Score every row of ``values`` (rows = time, columns = ``signals``) and flag anomalies.

    ``train_rows`` (default: 20 % of the rows, at least ``2 * warmup``) are the rows whose scores set the
    threshold; later rows are still learned as they go, as in streaming use.
    """
    X = np.asarray(values, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(signals) or X.shape[1] == 0:
        raise ValidationError("values must be a 2-D array with one column per signal")
    n, d = X.shape
    if train_rows is None:
        train_rows = max(n // 5, 2 * warmup)
    train_rows = min(max(train_rows, 0), n)
    uni = np.zeros((n, d))
    for j in range(d):
        uni[:, j] = np.maximum(
            EnsembleDetector(warmup=warmup).score_learn_many(X[:, j]),
            EnsembleDetector(warmup=warmup, suppress=0, levels=0, subseq_len=0).score_learn_many(X[:, j]))
    mv = np.zeros(n)
    shares = np.zeros((n, d))
    if d > 1:
        det = MultivariateDetector(warmup=max(warmup, 2 * d), signals=list(signals))
        for t in range(n):
            row = {s: float(X[t, j]) for j, s in enumerate(signals)}
            ex = det.explain_one(row)
            mv[t] = ex.score
            for c in ex.contributions:
                shares[t, signals.index(c.signal)] = c.share
            det.learn_one(row)
    scores = np.maximum(uni.max(axis=1), mv)
    ref = scores[warmup:train_rows] if train_rows > warmup else scores[:train_rows]
    q = float(np.quantile(ref, quantile)) if ref.size else floor
    threshold = min(max(q, floor), 0.9999)
    flags = scores >= threshold
    top = [signals[int(np.argmax(shares[t]))] if mv[t] > uni[t].max() else signals[int(np.argmax(uni[t]))]
           for t in range(n)]
    tracker = AlertTracker(threshold, quiet=10)
    for t in range(n):
        ex = Explanation(float(scores[t]), (Contribution(top[t], 1.0, float(scores[t])),))
        tracker.update(t, float(scores[t]), ex)
    alerts = [*tracker.closed, *([tracker.open] if tracker.open else [])]
    return DetectionResult(scores, flags, threshold, train_rows, top, alerts)
