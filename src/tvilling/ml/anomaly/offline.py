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

The streaming scorers learn every row, so a level shift that lasts becomes their new normal within a few dozen
rows, and with many signals the maximum over all of them sets a high threshold. Because the contract says the
training rows are normal operation, a **baseline** (:func:`frozen_distances`) scores every row against the
training rows' median and robust sd per signal. After the training rows its centre follows slow drift (an
exponential mean over ``follow`` rows) but learns only values within 2 sd of it, so a jump beyond that is flagged
for as long as it lasts instead of becoming the new normal. Its own threshold ``z*`` comes out of sample from the
training rows alone (two-fold: fit on one half, the ``quantile`` of the other half's largest distance per row, both
ways), raised to at least ``z_floor`` (4 sd: with Gaussian noise a row of 20 signals crosses it by chance with
probability ~1e-3). The largest distance ``z`` of a row enters its score as
``1 - (1 - threshold) ** ((z / z*) ** 2)``, which equals the streaming threshold at ``z = z*``, so a row is flagged
when either part says so.
"""

from __future__ import annotations

import warnings
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
RIDGE = 0.01  # ridge penalty per training row, on standardised signals: near-collinear signals stay solvable


@dataclass
class DetectionResult:
    scores: FloatArray
    is_anomaly: npt.NDArray[np.bool_]
    threshold: float
    train_rows: int
    top_signal: list[str]
    alerts: list[Alert] = field(default_factory=list)


def robust_fit(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column: median and robust sd (1.4826 MAD; the sd when the MAD is 0, e.g. a mostly constant signal;
    a tiny positive floor when the column is constant, so any later change is a large distance)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: centre 0, scale 1 below
        center = np.nan_to_num(np.nanmedian(X, axis=0))
        scale = 1.4826 * np.nan_to_num(np.nanmedian(np.abs(X - center), axis=0))
        scale = np.where(scale > 0, scale, np.nan_to_num(np.nanstd(X, axis=0)))
    return center, np.maximum(scale, 1e-9 * np.maximum(1.0, np.abs(center)))


def with_residuals(X: FloatArray, fit: FloatArray, ridge: float = RIDGE) -> FloatArray:
    """``X`` and, with two or more columns, each column's residual from a ridge regression on the others, fitted
    on the ``fit`` rows (standardised by their median and robust sd; missing values count as the median). A
    broken relationship between signals shows as a large residual even when every value is in its own range."""
    d = X.shape[1]
    if d < 2:
        return X
    c, s = robust_fit(fit)
    zf, z = np.nan_to_num((fit - c) / s), np.nan_to_num((X - c) / s)
    res = np.empty_like(z)
    for j in range(d):
        others = [k for k in range(d) if k != j]
        a = zf[:, others]
        w = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(d - 1), a.T @ zf[:, j])
        res[:, j] = z[:, j] - z[:, others] @ w
    return np.hstack([X, res])


def frozen_distances(X: FloatArray, train: FloatArray, follow: int = 0, gate: float = 2.0) -> FloatArray:
    """Per row and column: the distance from the ``train`` rows' median in their robust sd. With ``follow`` > 0
    the centre then follows each signal with an exponential mean of time constant ``follow`` rows, fed only by
    values within ``gate`` sd of it: slow drift is followed, a jump beyond the gate is not learned."""
    center, scale = robust_fit(train)
    if follow <= 0:
        return np.nan_to_num(np.abs(X - center) / scale)
    alpha = 1.0 / follow
    c = center.copy()
    out = np.empty_like(X, dtype=np.float64)
    for t in range(len(X)):
        z = np.abs(X[t] - c) / scale
        out[t] = np.nan_to_num(z)
        ok = z < gate  # a missing value (NaN) is not learned
        c[ok] += alpha * (X[t, ok] - c[ok])
    return out


def frozen_threshold(train: FloatArray, quantile: float, z_floor: float) -> float:
    """``z*``: the ``quantile`` of the largest distance per row, each half of ``train`` scored against the other
    half's fit (out of sample, so drift inside the training rows raises it), at least ``z_floor``."""
    half = len(train) // 2
    if half < 10:
        return z_floor
    a, b = train[:half], train[half:]
    oos = np.concatenate([frozen_distances(with_residuals(b, a), with_residuals(a, a)).max(axis=1),
                          frozen_distances(with_residuals(a, b), with_residuals(b, b)).max(axis=1)])
    return max(float(np.quantile(oos, quantile)), z_floor)


def baseline_scores(X: FloatArray, train_rows: int, threshold: float, *, quantile: float, z_floor: float,
                    follow: int, min_rows: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Per row: the baseline's score on the streaming scale (``threshold`` at ``z = z*``) and the column with the
    largest baseline distance. All zeros with fewer than ``min_rows`` training rows or no varying signal."""
    n = len(X)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: not varying
        # A signal constant in the training rows (a valve that never moved, an idle motor) has no known normal
        # variability, so any later value would be an infinite distance: the baseline leaves it to the streaming
        # scorers, which judge a change by the signal's own recent history.
        varying = np.flatnonzero(np.nan_to_num(np.nanstd(X[:train_rows], axis=0)) > 0)
    if train_rows < min_rows or not varying.size:
        return np.zeros(n), np.zeros(n, dtype=np.int64)
    Xv = X[:, varying]
    train = Xv[:train_rows]
    features = with_residuals(Xv, train)  # the signals, then their residuals
    fit = features[:train_rows]
    dist = np.vstack([frozen_distances(fit, fit), frozen_distances(features[train_rows:], fit, follow=follow)])
    z_star = frozen_threshold(train, quantile, z_floor)
    scores = 1.0 - (1.0 - threshold) ** ((dist.max(axis=1) / z_star) ** 2)
    return scores, varying[dist.argmax(axis=1) % varying.size]


def detect_table(values: npt.ArrayLike, signals: Sequence[str], *, train_rows: int | None = None,
                 quantile: float = 0.995, floor: float = 0.5, warmup: int = 50,
                 z_floor: float = 4.0, follow: int | None = None) -> DetectionResult:
    """Score every row of ``values`` (rows = time, columns = ``signals``) and flag anomalies.

    ``train_rows`` (default: 20 % of the rows, at least ``2 * warmup``) are the rows whose scores set the
    threshold; later rows are still learned as they go, as in streaming use. ``follow`` (default: a quarter of
    the training rows, at least ``warmup``): the time constant, in rows, with which the baseline's centre follows
    slow drift after the training rows (0: never). ``z_floor`` = inf turns the baseline off.
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
    streaming = np.maximum(uni.max(axis=1), mv)
    ref = streaming[warmup:train_rows] if train_rows > warmup else streaming[:train_rows]
    q = float(np.quantile(ref, quantile)) if ref.size else floor
    threshold = min(max(q, floor), 0.9999)
    frozen, base_top = baseline_scores(X, train_rows, threshold, quantile=quantile, z_floor=z_floor,
                                       follow=max(train_rows // 4, warmup) if follow is None else follow,
                                       min_rows=2 * warmup)
    scores = np.maximum(streaming, frozen)
    flags = scores >= threshold
    top = [signals[int(base_top[t])] if frozen[t] > streaming[t]
           else signals[int(np.argmax(shares[t]))] if mv[t] > uni[t].max() else signals[int(np.argmax(uni[t]))]
           for t in range(n)]
    tracker = AlertTracker(threshold, quiet=10)
    for t in range(n):
        ex = Explanation(float(scores[t]), (Contribution(top[t], 1.0, float(scores[t])),))
        tracker.update(t, float(scores[t]), ex)
    alerts = [*tracker.closed, *([tracker.open] if tracker.open else [])]
    return DetectionResult(scores, flags, threshold, train_rows, top, alerts)
