"""ARTime (Mark Hampton, 2021; top of the NAB scoreboard, standard 74.9), re-implemented in numpy from the
published ARTimeNAB.jl for Tvilling's streaming contract.

Licence note: ARTimeNAB.jl is AGPL-3.0. This module is an independent re-implementation of the algorithm and its
published constants (no code was copied; the structure follows Tvilling's detector contract); it is a benchmark
detector, not on any live path. Have that judged before shipping it as a default.

Pipeline, per raw value (``probation`` = NAB's probationary length, made even):

1. **Down-sample** by ``step = max(1, probation // (window * windows_per_probation))``: every ``step``-th value
   summarises the last ``step`` values by their mean, or by their extreme (max, or min when the min is further
   from a running average of the means) when it differs from the mean by at least 10 % of the mean.
2. **Normalise** with the range ``[min_value, max_value]`` and **discretise** into ``levels`` levels; a level
   within ``chomp`` of an approximate running median level is replaced by the median (this flattens noise).
3. **Features**: the last ``window`` levels, min-max scaled and Haar-wavelet transformed (full depth, then
   min-max scaled again), next to the raw last ``window`` levels: ``2 * window`` features in ``[0, 1]``.
4. **Probation**: the first ``trend = probation // step`` feature vectors are buffered; then the vigilance
   ``rho`` is initialised (mean similarity of a fuzzy ART trained at vigilance ``initial_rho`` on the buffered
   vectors sorted by how typical they are) and the buffered vectors are replayed into a fresh ART.
5. **Detect** (:mod:`tvilling.ml.anomaly.dvfa`): a vector that matches no category above ``rho_lb`` opens a
   new cluster. It is reported unless masked: for ``1.5 * window`` steps after a report and after each
   vigilance update until ``1.5 * window`` steps pass without a new cluster — a masked mismatch is still reported
   when its similarity falls below 0.9 (just after a report) or 0.7 (otherwise) times the last report's.
   The score is ``min(1, 0.35 u + 0.65 l + 1.5 (1 - energy))`` with ``u``, ``l`` how far the similarity lies
   below ``rho_ub``/``rho_lb``, relative to ``1 - similarity``.
6. **Adapt** every ``trend // 2`` steps and ``1.5 * window`` steps after a report: ``rho_ub`` = running mean of
   the similarities (at most 0.97); ``rho_lb`` rises 19 % of the way to the lowest recent similarity, or, when
   it is above it, falls by half the mean recent shortfall (at least 0.01; each shortfall above 0.05, capped at
   0.37) but not below the mean similarity of the reported anomalies.

Score range: ``[0, 1]``, higher = more anomalous; most points score exactly 0 (only every ``step``-th value
is scored, and only mismatches that are not masked score above 0).

Range: NAB's runner hands ARTime the file's min/max (``min_value``/``max_value``). For a live stream with no
known range leave them ``None``: the range is then the min/max of the first ``probation`` values, which are
buffered (scored 0) and replayed once it is fixed. That range is widened by ``range_margin`` of its span on
each side (chosen on the development corpus, not on NAB); later values outside it are clipped to the edge levels.

Published defaults (ARTimeNAB.jl): window 8, windows_per_probation 13, chomp 0.075, levels 80, initial_rho 0.80
and the constants named below. Deviations (deliberate): values beyond the fixed range are clipped (the original
never sees any, as it is given the file's range); non-finite values are skipped (scored 0, not learned); the
learned-range form and its margin are additions.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

from tvilling.ml.anomaly.artime_features import FeatureFront
from tvilling.ml.anomaly.base import SteppedUnivariate, univariate_column
from tvilling.ml.anomaly.dvfa import DualVigilanceART

FloatArray = npt.NDArray[np.float64]

# constants of ARTimeNAB.jl, kept as published
RHO_UB_CAP = 0.97
RHO_LB_RISE = 0.19  # share of the gap to the lowest recent similarity closed per update
SHORTFALL_MIN, SHORTFALL_CAP, RHO_LB_MIN_FALL = 0.05, 0.37, 0.01
BELOW_LAST_MASKED, BELOW_LAST = 0.90, 0.70
CONF_UB, CONF_LB, CONF_ENERGY = 0.35, 0.65, 1.5


def initial_vigilance(features: FloatArray, rho: float, start: int) -> float:
    """ARTime's first vigilance: order the vectors (rows) from least to most typical (sum of near-cosine
    similarities to all the others), train a fuzzy ART at vigilance ``rho`` on them in that order, and average
    its similarities from position ``start`` (0-based) on."""
    norms = np.linalg.norm(features, axis=1)
    sim = features @ features.T / np.maximum(np.outer(norms, norms), 1e-300)
    zero = norms == 0.0
    # a zero vector has no direction: its similarity to v is 1 - |v| (as in ARTime)
    sim[zero, :] = 1.0 - norms[None, :]
    sim[:, zero] = 1.0 - norms[:, None]
    np.fill_diagonal(sim, 1.0)
    order = np.argsort(sim.sum(axis=0), kind="stable")
    art = DualVigilanceART(features.shape[1], rho, rho)
    sims = [art.train(features[k]).similarity for k in order]
    tail = sims[start:]
    return float(np.mean(tail)) if tail else rho


class ARTimeDetector(SteppedUnivariate):
    """ARTime behind the ``AnomalyDetector`` contract (see module docstring).

    Parameters:
        min_value, max_value: the value range that is normalised to ``[0, 1]`` (None: learned over ``probation``).
        probation: NAB's probationary length in raw values; sets the down-sampling step and the number of
            feature vectors buffered before detection starts (made even, as ARTime does).
        window: values per feature window (a power of two keeps the Haar transform full depth).
        windows_per_probation: feature windows that should fit in the probation after down-sampling.
        chomp: a level closer than this to the running median is replaced by the median.
        levels: discretisation levels of the normalised value.
        initial_rho: vigilance of the ART that sets the first ``rho``.
        range_margin: only for a learned range: it is widened by this share of its span on each side, so that
            later values beyond it are not all clipped to the edge levels (0 = the probation's min/max). Not
            in ARTime (NAB gives it the range); 0.25 was chosen on the development corpora of bench/nab_dev
            (bench/nab_dev/artime_select.py), never on NAB.
        key: the signal to read from ``x`` (default: the only one).
        max_categories: bound on the ART memory (None: unbounded, as in ARTime); when full, a new category
            replaces the one that has gone longest unused. Live monitors set it (a year of a signal at 1 Hz would
            otherwise grow the memory, and the cost per point with it, without end).

    >>> import math
    >>> det = ARTimeDetector(min_value=-1.0, max_value=2.0, probation=300)
    >>> calm = det.score_learn_many([math.sin(i / 5.0) for i in range(1200)])
    >>> float(calm[300:].max())
    0.0
    >>> bool(det.score_learn_many([2.0] * 3).max() > 0.5)  # a jump to a level never seen
    True
    """

    def __init__(self, *, min_value: float | None = None, max_value: float | None = None,
                 probation: int = 750, window: int = 8, windows_per_probation: int = 13, chomp: float = 0.075,
                 levels: int = 80, initial_rho: float = 0.80, range_margin: float = 0.25,
                 key: str | None = None, max_categories: int | None = None) -> None:
        if (min_value is None) != (max_value is None):
            raise ValueError("give both min_value and max_value, or neither")
        if min_value is not None and max_value is not None and not min_value <= max_value:
            raise ValueError("min_value must not exceed max_value")
        if window < 2 or windows_per_probation < 1 or levels < 1 or not 0.0 < initial_rho <= 1.0:
            raise ValueError("window >= 2, windows_per_probation >= 1, levels >= 1, 0 < initial_rho <= 1")
        if not range_margin >= 0.0:
            raise ValueError("range_margin must be >= 0")
        even = probation - probation % 2
        step = max(1, even // (window * windows_per_probation))
        if even // step <= 2 * window + 2:
            raise ValueError(f"probation {probation} is too short for window {window}")
        self.min_value = min_value
        self.max_value = max_value
        self.probation = probation
        self.window = window
        self.windows_per_probation = windows_per_probation
        self.chomp = chomp
        self.levels = levels
        self.initial_rho = initial_rho
        self.range_margin = range_margin
        self.key = key
        self._step_len = step
        self._trend = even // step
        self._mask = int(window * 1.5)
        self._front: FeatureFront | None = None
        self._buffer: list[float] | None = None
        if min_value is not None and max_value is not None:
            self._fix_range(min_value, max_value)
        else:
            self._buffer = []
        self.max_categories = max_categories
        self._art = DualVigilanceART(2 * window, max_categories=max_categories)
        self._pending: list[FloatArray] = []
        self._last_i = 0  # step of the last report
        self._last_sim = 0.0  # its similarity
        self._last_update_i = 0  # step of the last vigilance update
        self._mask_after_cat = False
        self._calm_steps = 0  # steps since the last new cluster
        self._reported: list[float] = []  # lowest similarity around each report
        self._sims: deque[float] = deque([1.0] * (self._trend // 2 + 1), maxlen=self._trend // 2 + 1)
        self._shortfalls: deque[float] = deque([0.0] * (self._trend + 1), maxlen=self._trend + 1)
        self._sim_total = 0.0
        self._sim_count = 0

    # the contract (score_one, learn_one, batch forms) comes from SteppedUnivariate: _step and _score_value
    @property
    def categories(self) -> int:
        """Categories in the ART memory (it grows with every new pattern, up to ``max_categories``)."""
        return self._art.n

    # -- internals ------------------------------------------------------------------------------------
    def _fix_range(self, lo: float, hi: float) -> None:
        self._front = FeatureFront(self._step_len, self.window, self.levels, self.chomp, lo, hi - lo)

    def _score_value(self, v: float) -> float:
        if self._front is None or not math.isfinite(v):
            return 0.0
        i = self._front.dsi + 1
        if self._front.i % self._step_len != self._step_len - 1 or i <= self._trend:
            return 0.0  # not a down-sampled step, or still in probation: the score would be 0
        f = self._front.copy().push(v)
        assert f is not None
        return self._detect(f, i, commit=False)

    def _step(self, v: float) -> float:
        if not math.isfinite(v):
            return 0.0
        if self._front is None:
            assert self._buffer is not None
            self._buffer.append(v)
            if len(self._buffer) >= self.probation:
                values, self._buffer = self._buffer, None
                lo, hi = min(values), max(values)
                pad = self.range_margin * (hi - lo)
                self._fix_range(lo - pad, hi + pad)
                for u in values:  # replayed; their scores were reported as 0
                    self._advance(u)
            return 0.0
        return self._advance(v)

    def _advance(self, v: float) -> float:
        assert self._front is not None
        f = self._front.push(v)
        if f is None:
            return 0.0
        i = self._front.dsi
        if i > self._trend:
            return self._detect(f, i, commit=True)
        self._pending.append(f)
        if i == self._trend:  # end of probation: first vigilance, then replay the buffered vectors
            feats = np.array(self._pending[self.window - 1:])
            rho = initial_vigilance(feats, self.initial_rho, self._trend // 2 - 1)
            self._art.rho_lb = self._art.rho_ub = rho
            pending, self._pending = self._pending, []
            for k, g in enumerate(pending, start=1):
                self._detect(g, k, commit=True)
        return 0.0

    def _detect(self, f: FloatArray, i: int, commit: bool) -> float:
        """Step 5 (and 6 when ``commit``) for feature vector ``f`` at down-sampled step ``i`` (1-based)."""
        since = i - self._last_i
        mask_after_cat = self._mask_after_cat
        if i > self._trend + self._mask and mask_after_cat and self._calm_steps >= self._mask:
            mask_after_cat = False
        learning = i >= self.window
        m = self._art.match(f, learning)
        mismatch = m.mismatch if learning else True
        sim = m.similarity
        masked = mask_after_cat or since <= self._mask
        below_last = sim < self._last_sim * (BELOW_LAST_MASKED if since <= self._mask else BELOW_LAST)
        fire = i > self._trend and mismatch and (not masked or below_last)
        score = self._confidence(sim, m.energy) if fire else 0.0
        if not commit:
            return score
        if learning or self._art.n == 0:  # the first vector only sets up the ART
            self._art.commit(m)
        self._calm_steps = 0 if mismatch else self._calm_steps + 1
        self._sim_total += sim
        self._sim_count += 1
        self._sims.append(sim)
        self._shortfalls.append(self._art.rho_ub - sim)
        if since < self._mask and self._reported and sim < self._reported[-1]:
            self._reported[-1] = sim
        if fire:
            self._reported.append(sim)
            self._last_sim = sim
            self._last_i = i
        self._mask_after_cat = mismatch or mask_after_cat
        if i > self._trend and (since == self._mask or i - self._last_update_i >= self._trend // 2):
            self._update_vigilance(i)
        return score

    def _update_vigilance(self, i: int) -> None:
        """Step 6."""
        lowest = min(self._sims)
        ub = min(RHO_UB_CAP, self._sim_total / self._sim_count)
        lb = self._art.rho_lb
        if lb <= lowest:
            lb += (lowest - lb) * RHO_LB_RISE
        else:
            fall = 0.0
            if i > 2 * self._trend:
                short = [min(SHORTFALL_CAP, d) for d in self._shortfalls if d > SHORTFALL_MIN]
                if short:
                    fall = sum(short) / len(short)
            lb -= max(RHO_LB_MIN_FALL, fall) / 2.0
            if self._reported:
                lb = max(sum(self._reported) / len(self._reported), lb)
        self._art.rho_lb = min(ub, lb)
        self._art.rho_ub = ub
        self._last_update_i = i
        self._mask_after_cat = True

    def _confidence(self, sim: float, energy: float) -> float:
        s = min(0.999, sim)
        ub = ((1.0 - s) - (1.0 - self._art.rho_ub)) / (1.0 - s)
        lb = ((1.0 - s) - (1.0 - self._art.rho_lb)) / (1.0 - s)
        # a report implies sim < rho_lb <= rho_ub, so this is in (0, 1]; the clamp only guards the documented range
        return round(max(0.0, min(1.0, CONF_UB * ub + CONF_LB * lb + CONF_ENERGY * (1.0 - energy))), 6)


def nab_probation(n: int) -> int:
    """NAB's probationary length of an ``n``-row file."""
    return int(min(math.floor(0.15 * n), 750.0))


def nab_artime_scores(values: npt.ArrayLike, *, causal: bool = False) -> FloatArray:
    """Scores of one NAB file with ARTime set up as its NAB entry sets it up: a fresh detector, published
    defaults, NAB's probationary length and the file's min/max (NAB hands every detector ``inputMin``/
    ``inputMax``). ``causal=True`` withholds the min/max: the range is learned over the probationary length
    (the scores of those rows are 0, and NAB ignores them)."""
    v = univariate_column(values)
    finite = v[np.isfinite(v)]
    probation = nab_probation(len(v))
    if causal or finite.size == 0:
        det = ARTimeDetector(probation=probation)
    else:
        det = ARTimeDetector(min_value=float(finite.min()), max_value=float(finite.max()), probation=probation)
    return det.score_learn_many(v)
