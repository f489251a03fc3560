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
training rows are normal operation, a **baseline** (:func:`deviations`) scores every row against the
training rows' median and robust sd per signal. After the training rows its centre follows slow drift (an
exponential mean over ``follow`` rows) but learns only values within 2 sd of it, so a jump beyond that is flagged
for as long as it lasts instead of becoming the new normal. Its own threshold ``z*`` comes out of sample from the
training rows alone (two-fold: fit on one half, the ``quantile`` of the other half's largest distance per row, both
ways), raised to at least ``z_floor`` (4 sd: with Gaussian noise a row of 20 signals crosses it by chance with
probability ~1e-3). The largest distance ``z`` of a row enters its score as
``1 - (1 - threshold) ** ((z / z*) ** 2)``, which equals the streaming threshold at ``z = z*``, so a row is flagged
when either part says so.

A lasting shift of 1.5–3 sd (a valve half-closed, a fouled exchanger) leaves every single row inside ``z*``. The
baseline therefore also runs an **EWMA control chart** per column (weight ``ewma`` = 0.1 per row, i.e. a memory of
about 10 rows): the exponentially weighted mean of each column's signed deviation, its input clipped to ±``z_floor``
so that one spike does not count as a lasting shift. Each column's EWMA is scaled by its out-of-sample RMS on the
training rows (two-fold, as above; at least the median column's, so a column that sat still in training does not
get a hair trigger), and ``e*`` is the ``quantile`` of the largest scaled EWMA per training row, at least
``z_floor``; it enters the score like ``z``. While a column's EWMA is flagged its centre stops following (``hold``),
so the shift is not learned away; a deviation more than 3 sd from the EWMA's level and nearer normal restarts the
EWMA, so the flag ends within a few rows of the shift's end. A residual's chart counts only while it is off both its
followed centre and its training centre (``anchor_residuals``): a relationship that returns to how it was in
training is healthy again, even if the followed centre had learned part of the fault before the chart flagged it
(post-fault lock-in; round 12). Measured on synthetic cases in ``bench/detect_dev/synthetic_cases.py`` and the
pump rig in ``bench/detect_dev/pump_rig.py`` (docs/predictive.md).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError
from tvilling.ml.anomaly.base import Alert, Contribution, Explanation
from tvilling.ml.anomaly.multivariate import MultivariateDetector
from tvilling.ml.anomaly.univariate import EnsembleDetector
from tvilling.ml.anomaly.wrappers import AlertTracker

FloatArray = npt.NDArray[np.float64]
# Why a row scored: the training-row baseline's point test on a signal / on a signal's residual from the others, its
# EWMA chart on either, or the streaming scorers (per signal / across signals).
REASONS = ("level", "relationship", "lasting_level", "lasting_relationship", "streaming", "streaming_correlation")
RESTART = 3.0  # sd: a deviation this far from the EWMA's level is inconsistent with it (p ~ 0.003 per value)
RIDGE = 0.01  # ridge penalty per training row, on standardised signals: near-collinear signals stay solvable


@dataclass
class DetectionResult:
    scores: FloatArray
    is_anomaly: npt.NDArray[np.bool_]
    threshold: float
    train_rows: int
    top_signal: list[str]
    alerts: list[Alert] = field(default_factory=list)
    # per row, which part scored highest (REASONS); per alert (same order as ``alerts``), the reasons of its
    # flagged rows, most frequent first
    reason: list[str] = field(default_factory=list)
    alert_reasons: list[list[str]] = field(default_factory=list)


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


def deviations(X: FloatArray, train: FloatArray, follow: int = 0, gate: float = 2.0, *, ewma: float = 0.0,
               e_hold: FloatArray | None = None, e_start: FloatArray | None = None,
               clip: float = np.inf, restart: float = np.inf,
               anchor: npt.NDArray[np.bool_] | None = None) -> tuple[FloatArray, FloatArray]:
    """Signed deviations from the ``train`` rows' median in their robust sd (missing values: 0), and their
    exponentially weighted mean with weight ``ewma`` per row (an EWMA control chart, which sees a lasting shift
    too small for any single row; zeros when ``ewma`` is 0), starting from ``e_start``. With ``follow`` > 0 the
    centre follows each signal with an exponential mean of time constant ``follow`` rows, fed only by values
    within ``gate`` sd of it: slow drift is followed, a jump beyond the gate is not learned. With ``e_hold`` it also
    stops learning a column while that column's EWMA is beyond it, so a lasting shift inside the gate is not
    slowly learned away while it is being flagged. The EWMA's input
    is clipped to ±``clip`` (a single spike is the point test's business, not a lasting shift), and a deviation
    more than ``restart`` from the EWMA and nearer zero than it (a shift has ended) restarts the EWMA from zero,
    instead of letting it decay for tens of rows after the shift is over. Columns where ``anchor`` is True run a
    second EWMA against the ``train`` centre itself (never following) and chart only what the two share: the
    smaller in size when both lie on the same side, else zero; this value also decides their hold. A followed
    centre that learned part of a lasting fault before the chart flagged it would otherwise chart the return to
    normal as a new shift, and the hold would keep that flag for the rest of the file."""
    center, scale = robust_fit(train)
    d = np.nan_to_num((X - center) / scale)
    e = np.zeros_like(d)
    if follow <= 0 and ewma <= 0:
        return d, e
    c = center.copy()
    alpha = 1.0 / follow if follow > 0 else 0.0
    acc = np.zeros(X.shape[1]) if e_start is None else e_start.copy()
    acc0 = acc.copy()
    for t in range(len(X)):
        dt = np.nan_to_num((X[t] - c) / scale)
        d[t] = dt
        back = (np.abs(dt - acc) > restart) & (np.abs(dt) < np.abs(acc))  # against the level so far
        acc += ewma * (np.clip(dt, -clip, clip) - acc)
        acc[back] = ewma * dt[back]  # as if starting afresh from zero at this row
        chart = acc
        if anchor is not None:  # the same chart against the training centre, which never moves
            d0 = np.nan_to_num((X[t] - center) / scale)
            back0 = (np.abs(d0 - acc0) > restart) & (np.abs(d0) < np.abs(acc0))
            acc0 += ewma * (np.clip(d0, -clip, clip) - acc0)
            acc0[back0] = ewma * d0[back0]
            shared = np.where(acc * acc0 > 0, np.sign(acc) * np.minimum(np.abs(acc), np.abs(acc0)), 0.0)
            chart = np.where(anchor, shared, acc)
        e[t] = chart
        if alpha:
            ok = np.abs(dt) < gate  # a missing value (NaN) is not learned
            ok &= ~np.isnan(X[t])
            if e_hold is not None:
                ok &= np.abs(chart) < e_hold
            c[ok] += alpha * (X[t, ok] - c[ok])
    return d, e


def _oos(train: FloatArray, ewma: float) -> tuple[FloatArray, FloatArray]:
    """Each half of ``train`` scored against the other half's fit (signals and residuals; out of sample, so drift
    inside the training rows shows): the deviations and their EWMA, both halves stacked."""
    half = len(train) // 2
    a, b = train[:half], train[half:]
    parts = [deviations(with_residuals(test, fit), with_residuals(fit, fit), ewma=ewma)
             for test, fit in ((b, a), (a, b))]
    return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])


@dataclass(frozen=True)
class BaselineLimits:
    z_star: float  # flag a row whose largest deviation reaches this many robust sd
    e_scale: FloatArray  # per column: the EWMA's out-of-sample RMS (inf: no EWMA)
    e_star: float  # flag a row whose largest EWMA reaches this many e_scale


def frozen_threshold(train: FloatArray, quantile: float, z_floor: float, ewma: float = 0.0) -> BaselineLimits:
    """The limits, out of sample from the training rows alone: ``z*`` = the ``quantile`` of the largest deviation
    per row, at least ``z_floor``. For the EWMA each column is first scaled by its own out-of-sample RMS, which
    holds autocorrelation (a slow signal's EWMA wanders much further than white noise's) and is a steadier
    estimate from a few hundred rows than a tail quantile (and at least the median column's RMS); ``e*`` is then
    the ``quantile`` of the largest scaled EWMA per row, at least ``z_floor``."""
    width = with_residuals(train[:2], train[:2]).shape[1]
    off = BaselineLimits(z_floor, np.full(width, np.inf), np.inf)
    if len(train) // 2 < 10:
        return off
    d, e = _oos(train, ewma)  # the deviations do not depend on ewma (no following out of sample)
    z_star = max(float(np.quantile(np.abs(d).max(axis=1), quantile)), z_floor)
    if ewma <= 0:
        return BaselineLimits(z_star, off.e_scale, np.inf)
    rms = np.sqrt(np.mean(e ** 2, axis=0))
    white = np.sqrt(ewma / (2.0 - ewma))  # the EWMA's sd for independent unit-sd deviations
    # At least the median column's RMS: a column that happened to sit still during the training rows would
    # otherwise get a scale that ordinary wandering later exceeds.
    e_scale = np.maximum(rms, max(white, float(np.median(rms))))
    e_star = max(float(np.quantile((np.abs(e) / e_scale).max(axis=1), quantile)), z_floor)
    return BaselineLimits(z_star, e_scale, e_star)


def baseline_scores(X: FloatArray, train_rows: int, threshold: float, *, quantile: float, z_floor: float,
                    follow: int, min_rows: int, ewma: float = 0.0,
                    hold: bool = True,
                    anchor_residuals: bool = True) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per row: the baseline's score on the streaming scale (``threshold`` at ``z = z*`` or EWMA ``e = e*``), the
    signal with the largest baseline distance, and the index in :data:`REASONS` of the part that set it. All zeros
    with fewer than ``min_rows`` training rows or no varying signal. ``anchor_residuals``: the residual columns'
    charts also need to be off the training centre (see :func:`deviations`)."""
    n = len(X)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: not varying
        # A signal constant in the training rows (a valve that never moved, an idle motor) has no known normal
        # variability, so any later value would be an infinite distance: the baseline leaves it to the streaming
        # scorers, which judge a change by the signal's own recent history.
        varying = np.flatnonzero(np.nan_to_num(np.nanstd(X[:train_rows], axis=0)) > 0)
    if train_rows < min_rows or not varying.size:
        return np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    Xv = X[:, varying]
    train = Xv[:train_rows]
    features = with_residuals(Xv, train)  # the signals, then their residuals
    fit = features[:train_rows]
    lim = frozen_threshold(train, quantile, z_floor, ewma)
    # A signal's level moves with the operating point, so its training level is no reference later on; a residual
    # has that movement removed, so its training centre is where a healthy relationship returns to.
    residual_columns = np.arange(features.shape[1]) >= varying.size
    d_fit, e_fit = deviations(fit, fit, ewma=ewma)
    d_new, e_new = deviations(features[train_rows:], fit, follow=follow, ewma=ewma,
                              e_hold=lim.e_star * lim.e_scale if hold and ewma > 0 else None,
                              e_start=e_fit[-1] if ewma > 0 else None, clip=z_floor, restart=RESTART,
                              anchor=residual_columns if anchor_residuals else None)
    # columns: point test on signals, then residuals; then the chart on signals, then residuals
    ratio = np.hstack([(np.vstack([d_fit, d_new]) / lim.z_star) ** 2,
                       (np.vstack([e_fit, e_new]) / lim.e_scale / lim.e_star) ** 2])
    width, v = features.shape[1], varying.size
    best = ratio.argmax(axis=1)
    # Name a signal's own level when it is enough to flag the row; a broken relationship only when it is not
    # (a signal that jumps also leaves its regression on the others, but "out of range" is the plainer reason).
    own = np.concatenate([np.arange(v), width + np.arange(v)])
    best_own = own[ratio[:, own].argmax(axis=1)]
    best = np.where(ratio[np.arange(n), best_own] >= 1.0, best_own, best)
    part = (best >= width) * 2 + (best % width >= v)  # index into REASONS
    scores = 1.0 - (1.0 - threshold) ** ratio.max(axis=1)
    return scores, varying[best % v], part.astype(np.int64)


# What detect_table's streaming part hands to ``mapper``: one job per signal and one across signals. Module-level
# functions of picklable arguments, so that a process pool's ``map`` can run them side by side.
StreamingJob = tuple[str, FloatArray, tuple[str, ...], int]
Mapper = Callable[[Callable[[StreamingJob], FloatArray], Iterable[StreamingJob]], Iterator[FloatArray]]


def streaming_job(job: StreamingJob) -> FloatArray:
    """``("signal", column, (), warmup)``: the larger of the two :class:`EnsembleDetector` scores per row;
    ``("across", table, signals, warmup)``: the :class:`MultivariateDetector` score per row in column 0 and each
    signal's residual share in the other columns."""
    kind, X, signals, warmup = job
    if kind == "signal":
        return np.maximum(
            EnsembleDetector(warmup=warmup).score_learn_many(X),
            EnsembleDetector(warmup=warmup, suppress=0, levels=0, subseq_len=0).score_learn_many(X))
    d = len(signals)
    out = np.zeros((len(X), d + 1))
    det = MultivariateDetector(warmup=max(warmup, 2 * d), signals=list(signals))
    column = {s: 1 + j for j, s in enumerate(signals)}  # a signal's share column, looked up once per name
    for t in range(len(X)):
        row = {s: float(X[t, j]) for j, s in enumerate(signals)}
        ex = det.explain_one(row)
        out[t, 0] = ex.score
        for c in ex.contributions:
            out[t, column[c.signal]] = c.share
        det.learn_one(row)
    return out


def detect_table(values: npt.ArrayLike, signals: Sequence[str], *, train_rows: int | None = None,
                 quantile: float = 0.995, floor: float = 0.5, warmup: int = 50,
                 z_floor: float = 4.0, follow: int | None = None, ewma: float = 0.1,
                 hold: bool = True, anchor_residuals: bool = True, mapper: Mapper = map) -> DetectionResult:
    """Score every row of ``values`` (rows = time, columns = ``signals``) and flag anomalies.

    ``train_rows`` (default: 20 % of the rows, at least ``2 * warmup``) are the rows whose scores set the
    threshold; later rows are still learned as they go, as in streaming use. ``follow`` (default: a quarter of
    the training rows, at least ``warmup``): the time constant, in rows, with which the baseline's centre follows
    slow drift after the training rows (0: never). ``z_floor`` = inf turns the baseline off. ``ewma``: the weight
    per row of the baseline's EWMA chart for lasting small shifts (0: off); ``hold``: the centre does not follow a
    signal while its EWMA is flagged; ``anchor_residuals``: a relationship's chart counts only while it is off both
    its followed centre and its training centre (False: round 2, the followed centre alone). ``mapper`` runs the
    streaming scorers (one job per signal, one across them; independent of each other): ``map`` by default, a
    process pool's ``map`` to run them in parallel with identical results.
    """
    X = np.asarray(values, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(signals) or X.shape[1] == 0:
        raise ValidationError("values must be a 2-D array with one column per signal")
    n, d = X.shape
    if train_rows is None:
        train_rows = max(n // 5, 2 * warmup)
    train_rows = min(max(train_rows, 0), n)
    names = tuple(signals)
    # the job across signals first: it is the longest, so a pool starts it at once
    jobs: list[StreamingJob] = [("across", X, names, warmup)] if d > 1 else []
    jobs += [("signal", np.ascontiguousarray(X[:, j]), (), warmup) for j in range(d)]
    done = list(mapper(streaming_job, jobs))
    uni = np.column_stack(done[-d:])
    mv, shares = (done[0][:, 0], done[0][:, 1:]) if d > 1 else (np.zeros(n), np.zeros((n, d)))
    streaming = np.maximum(uni.max(axis=1), mv)
    ref = streaming[warmup:train_rows] if train_rows > warmup else streaming[:train_rows]
    q = float(np.quantile(ref, quantile)) if ref.size else floor
    threshold = min(max(q, floor), 0.9999)
    frozen, base_top, base_part = baseline_scores(X, train_rows, threshold, quantile=quantile, z_floor=z_floor,
                                       follow=max(train_rows // 4, warmup) if follow is None else follow,
                                       min_rows=2 * warmup, ewma=ewma, hold=hold,
                                       anchor_residuals=anchor_residuals)
    scores = np.maximum(streaming, frozen)
    flags = scores >= threshold
    top = [signals[int(base_top[t])] if frozen[t] > streaming[t]
           else signals[int(np.argmax(shares[t]))] if mv[t] > uni[t].max() else signals[int(np.argmax(uni[t]))]
           for t in range(n)]
    reason = [REASONS[int(base_part[t])] if frozen[t] > streaming[t]
              else REASONS[5] if mv[t] > uni[t].max() else REASONS[4] for t in range(n)]
    tracker = AlertTracker(threshold, quiet=10)
    for t in range(n):
        ex = Explanation(float(scores[t]), (Contribution(top[t], 1.0, float(scores[t])),))
        tracker.update(t, float(scores[t]), ex)
    alerts = [*tracker.closed, *([tracker.open] if tracker.open else [])]
    alert_reasons = []
    for a in alerts:
        rows = range(int(a.since), int(a.last) + 1)  # type: ignore[call-overload]
        counts = Counter(reason[t] for t in rows if flags[t])
        alert_reasons.append([r for r, _ in counts.most_common()])
    return DetectionResult(scores, flags, threshold, train_rows, top, alerts, reason, alert_reasons)
