"""The default univariate streaming detector: an ensemble of cheap causal novelty tests plus alert shaping.

Each point is compared with what came strictly before it, through tests that each catch a different kind of
anomaly:

* **spike** — distance of ``x`` from a slow exponentially weighted (EW) mean, in slow EW standard deviations;
* **local spike** — the same against a fast EW mean and standard deviation, for streams whose
  level wanders (random walks) so that the slow statistics lag behind;
* **level shift** — distance of a fast EW mean (including ``x``) from the slow mean, in standard errors of
  the fast mean (one noisy point does not trigger it, a sustained shift does);
* **new range** — how far ``x`` leaves the ``[min, max]`` seen so far, relative to that range;
* **jump** — the step ``|x - x_prev|`` relative to the EW mean absolute step;
* **volatility** (off by default: it did not help on the development corpus) — the log-ratio of a fast to
  the slow EW mean absolute step, in its standard errors: a noise regime that grows (variance change,
  oscillation) or vanishes (flat-lined sensor) without any single point standing out;
* **context** — the value quantised into ``levels`` bins of the range seen so far; the share of the "words"
  formed by the current level and its last 0..``order`` predecessors never seen before (the idea of NAB's
  CAD-OSE and relative-entropy detectors, in its simplest form);
* **shape** (off by default, ``subseq_len=0``: it did not help on the development corpus) — nearest-neighbour
  novelty of the last ``subseq_len`` points' shape against the shapes seen before
  (:mod:`tvilling.ml.anomaly.subsequence`), for anomalies that stay inside the normal range.

The z-like tests are combined into one evidence strength ``e = 0.5 * (z / z_scale)^2`` from their weighted
maximum, plus ``-log(1 - w c)`` for the context novelty ``c`` and ``0.5 * (r / subseq_scale)^2`` for the shape
novelty ``r``. The output is *shaped* the way NAB's best detectors shape theirs: a point is reported only when
its strength is a new maximum over the last ``suppress`` points (a sustained anomaly raises one alert, not a
burst), and then as ``e / (1 + e)``.

Score range: ``[0, 1)``; 0 = nothing new (or already reported), values near 1 = far outside everything seen.
Cost: O(1) per point for the tests (the sliding maximum is a monotone deque) plus one matrix-vector product
over the shape memory every ``subseq_stride`` points.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from tvilling.ml.anomaly.base import SteppedBatch, first_value, univariate_column
from tvilling.ml.anomaly.subsequence import SubsequenceMemory

FloatArray = npt.NDArray[np.float64]
_Shape = tuple[float, FloatArray | None, float]  # (novelty ratio, PAA vector, distance) for SubsequenceMemory
_NO_SHAPE: _Shape = (0.0, None, 0.0)


class EnsembleDetector(SteppedBatch):
    """Causal univariate anomaly detector (see module docstring).

    Parameters (fixed for every stream; how the defaults were chosen is in docs/benchmarks.md):
        slow_alpha: smoothing of the slow mean/variance (per point; 0.01 ≈ 100-point memory).
        fast_alpha: smoothing of the fast mean used by the level-shift test.
        warmup: points seen before any non-zero score is produced.
        suppress: points over which a strength must be a new maximum to be reported (0 = report every point).
        z_scale: z-score that gives strength 0.5 (score 1/3).
        levels: quantisation levels of the context test (0 switches it off).
        order: previous levels in the longest context word of the context test.
        step_context: the context symbols also carry the step size's octave (the signal's dynamics, not only
            its level: catches in-range changes of rhythm or a stuck value).
        norm_alpha: smoothing of the stream's mean strength; each strength is divided by it (at least by
            ``norm_floor``) so that a busy stream needs more to alert (0 switches this off).
        norm_floor: smallest divisor of that normalisation.
        context_weight: how much a never-seen context raises the score (0..1).
        subseq_len: points in the shape window (0 switches the shape test off).
        subseq_segment: points per PAA segment of the shape window.
        subseq_stride: points between shape comparisons.
        subseq_memory: shapes remembered.
        subseq_scale: shape novelty (ratio to its running mean) that gives strength 0.5.
        local_alpha: smoothing of the local mean/variance of the local spike test (0 switches it off).
        vol_alpha: smoothing of the fast mean absolute step used by the volatility test.
        vol_weight: weight of the volatility test's z in the maximum (0 switches it off).
        key: the signal to read from ``x`` (default: the only one).

    >>> det = EnsembleDetector(warmup=20)
    >>> for i in range(400):
    ...     _ = det.score_learn_one({"v": math.sin(i / 5.0)})
    >>> det.score_one({"v": math.sin(400 / 5.0)}) < 0.5
    True
    >>> det.score_one({"v": 25.0}) > 0.9
    True
    """

    # Defaults: the setting chosen on the synthetic development corpus (bench/nab_dev, round 2), never on NAB.
    def __init__(self, *, slow_alpha: float = 0.01, fast_alpha: float = 0.4, warmup: int = 150,
                 suppress: int = 300, z_scale: float = 3.0, levels: int = 10, order: int = 3,
                 context_weight: float = 0.8, subseq_len: int = 0, subseq_segment: int = 16,
                 subseq_stride: int = 4, subseq_memory: int = 4000, subseq_scale: float = 3.0,
                 local_alpha: float = 0.03, vol_alpha: float = 0.05, vol_weight: float = 0.0,
                 step_context: bool = False, norm_alpha: float = 0.0, norm_floor: float = 0.05,
                 key: str | None = None) -> None:
        if not (0.0 < slow_alpha < 1.0 and 0.0 < fast_alpha <= 1.0):
            raise ValueError("slow_alpha and fast_alpha must lie in (0, 1]")
        if not (0.0 <= local_alpha < 1.0 and 0.0 < vol_alpha < 1.0):
            raise ValueError("local_alpha must lie in [0, 1) and vol_alpha in (0, 1)")
        if not 0.0 <= context_weight < 1.0:
            raise ValueError("context_weight must lie in [0, 1)")
        self.slow_alpha = slow_alpha
        self.fast_alpha = fast_alpha
        self.warmup = warmup
        self.suppress = suppress
        self.z_scale = z_scale
        self.levels = levels
        self.order = order
        self.context_weight = context_weight
        self.subseq_len = subseq_len
        self.subseq_segment = subseq_segment
        self.subseq_stride = subseq_stride
        self.subseq_memory = subseq_memory
        self.subseq_scale = subseq_scale
        self.local_alpha = local_alpha
        self.step_context = step_context
        self.norm_alpha = norm_alpha
        self.norm_floor = norm_floor
        self._smean = 0.0  # EW mean of the raw strength (norm_alpha)
        self.vol_alpha = vol_alpha
        self.vol_weight = vol_weight
        self.key = key
        self._n = 0
        self._mean = 0.0
        self._var = 0.0
        self._fast = 0.0
        self._lo = math.inf
        self._hi = -math.inf
        self._prev = math.nan
        self._absdiff = 0.0
        self._lmean = 0.0
        self._lvar = 0.0
        self._vol = 0.0  # fast EW mean absolute step
        self._decay_slow = 1.0  # (1 - alpha)^updates: bias correction of EW means started at 0
        self._decay_vol = 1.0
        # standard error of log(fast EW mean |step|) for Gaussian noise: CV of |N(0,1)| times the EW factor
        self._vol_se = 0.755 * math.sqrt(vol_alpha / (2.0 - vol_alpha))
        self._raw: deque[tuple[int, float]] = deque()  # (index, strength), strengths decreasing: sliding max
        # standard error of a fast EW mean of white noise, in units of the noise sd
        self._fast_se = math.sqrt(fast_alpha / (2.0 - fast_alpha))
        self._ctx: deque[int] = deque(maxlen=order)
        self._seen: set[tuple[int, ...]] = set()
        self._shapes = (SubsequenceMemory(subseq_len, subseq_segment, subseq_stride, subseq_memory)
                        if subseq_len else None)

    # -- the contract ---------------------------------------------------------------------------------
    def score_one(self, x: Mapping[str, float]) -> float:
        """Score ``x`` against the history; does not learn it (``[0, 1)``, higher = more anomalous)."""
        return self._shape(self._evaluate(first_value(x, self.key))[0])

    def learn_one(self, x: Mapping[str, float]) -> None:
        v = first_value(x, self.key)
        strength, shape = self._evaluate(v)
        self._push(strength)
        self._update(v, shape, strength)

    def score_learn_one(self, x: Mapping[str, float]) -> float:
        """Prequential step: score ``x`` then learn it (one pass instead of two)."""
        return self._step(first_value(x, self.key))

    def score_many(self, X: npt.ArrayLike) -> FloatArray:
        """Score each row against the current state without learning (rows are independent)."""
        return np.array([self._shape(self._evaluate(float(v))[0]) for v in univariate_column(X)], dtype=np.float64)

    # -- internals ------------------------------------------------------------------------------------
    def _step(self, v: float) -> float:
        strength, shape = self._evaluate(v)
        out = self._shape(strength)
        self._push(strength)
        self._update(v, shape, strength)
        return out

    def _evaluate(self, v: float) -> tuple[float, _Shape]:
        """Evidence strength for ``v`` (unbounded, so maxima compare) and the shape comparison to learn."""
        if self._n < self.warmup or not math.isfinite(v):
            return 0.0, _NO_SHAPE
        span = self._hi - self._lo
        # a floor on the spread: flat or quantised signals must not turn every wiggle into an infinite z
        sd = max(math.sqrt(self._var), 1e-3 * span, 1e-9 * (abs(self._mean) + 1.0))
        z_spike = abs(v - self._mean) / sd
        fast = self._fast + self.fast_alpha * (v - self._fast)
        z_level = abs(fast - self._mean) / (sd * self._fast_se)
        over = max(v - self._hi, self._lo - v, 0.0) / max(span, sd)
        z_jump = abs(v - self._prev) / max(self._absdiff, 1e-3 * span, 1e-9) / 2.0
        z = max(z_spike, 0.7 * z_level, 2.0 * self.z_scale * over, 0.5 * z_jump)
        if self.local_alpha:
            lsd = max(math.sqrt(self._lvar), 1e-3 * span, 1e-9 * (abs(self._lmean) + 1.0))
            z = max(z, abs(v - self._lmean) / lsd)
        if self.vol_weight:
            z = max(z, self.vol_weight * self._z_vol(v, span))
        z /= self.z_scale
        strength = 0.5 * z * z
        if self.levels:
            # -log(1 - w c): the context novelty as extra evidence in the same log-odds-like units
            strength -= math.log1p(-self.context_weight * self._novelty(self._token(v)))
        shape = _NO_SHAPE
        if self._shapes is not None:
            shape = self._shapes.novelty(v, self._n, self._lo, self._hi)
            r = shape[0] / self.subseq_scale
            strength += 0.5 * r * r
        if self.norm_alpha:
            # in units of this stream's usual strength: a stream that is always busy needs more to alert
            strength /= max(self._smean, self.norm_floor)
        return strength, shape

    def _z_vol(self, v: float, span: float) -> float:
        if self._decay_slow >= 1.0:
            return 0.0
        step = abs(v - self._prev)
        va = self.vol_alpha
        fast = (self._vol + va * (step - self._vol)) / (1.0 - self._decay_vol * (1.0 - va))
        slow = self._absdiff / (1.0 - self._decay_slow)
        # floors: quantised or flat signals have steps of 0; a relative floor keeps the log finite
        floor = max(1e-3 * span, 1e-9 * (abs(self._mean) + 1.0))
        return abs(math.log(max(fast, floor) / max(slow, floor))) / self._vol_se

    def _token(self, v: float) -> int:
        """The context test's symbol: the level, and with ``step_context`` also the step size's octave."""
        b = self._level(v)
        if not self.step_context:
            return b
        # octave of |step| against the EW mean step: -2 for (nearly) no step, then ..., 3 for >= 8x the usual
        r = abs(v - self._prev) / max(self._absdiff, 1e-12)
        octave = -2 if r < 0.25 else min(math.floor(math.log2(r)), 3)
        return 8 * b + octave + 2

    def _level(self, v: float) -> int:
        span = self._hi - self._lo
        if span <= 0.0:
            return 0
        # out-of-range values share one level per side, which also bounds the set of context words
        return min(max(math.floor(self.levels * (v - self._lo) / span), -1), self.levels)

    def _novelty(self, b: int) -> float:
        """Share of the context words (``b`` and its last 0..order predecessors) never seen before."""
        ctx = (*self._ctx, b)
        new = sum(ctx[-k:] not in self._seen for k in range(1, len(ctx) + 1))
        return new / len(ctx)

    def _shape(self, strength: float) -> float:
        # reported only if it beats every strength of the last `suppress` points (0 = no shaping)
        if self.suppress and self._raw and strength <= self._raw[0][1]:
            return 0.0
        return strength / (1.0 + strength)

    def _push(self, strength: float) -> None:
        if not self.suppress:
            return
        q = self._raw
        while q and q[-1][1] <= strength:
            q.pop()
        q.append((self._n, strength))
        while q[0][0] <= self._n - self.suppress:
            q.popleft()

    def _update(self, v: float, shape: _Shape, strength: float) -> None:
        if not math.isfinite(v):
            return
        if self.norm_alpha:
            # the raw strength back from the normalised one (the divisor has not changed since _evaluate)
            raw = strength * max(self._smean, self.norm_floor)
            self._smean += self.norm_alpha * (raw - self._smean)
        if self._n == 0:
            self._mean = self._fast = self._prev = self._lmean = v
        if self._shapes is not None:
            self._shapes.learn(v, self._n, self._lo, self._hi, *shape)
        if self.levels:
            b = self._token(v) if self._n else 0
            ctx = (*self._ctx, b)
            for k in range(1, len(ctx) + 1):
                self._seen.add(ctx[-k:])
            self._ctx.append(b)
        a = self.slow_alpha
        d = v - self._mean
        self._mean += a * d
        self._var = (1.0 - a) * (self._var + a * d * d)
        self._fast += self.fast_alpha * (v - self._fast)
        if self.local_alpha:
            la = self.local_alpha
            dl = v - self._lmean
            self._lmean += la * dl
            self._lvar = (1.0 - la) * (self._lvar + la * dl * dl)
        step = abs(v - self._prev)
        self._absdiff += a * (step - self._absdiff)
        if self.vol_weight:
            self._vol += self.vol_alpha * (step - self._vol)
            self._decay_vol *= 1.0 - self.vol_alpha
            self._decay_slow *= 1.0 - a
        self._prev = v
        self._lo = min(self._lo, v)
        self._hi = max(self._hi, v)
        self._n += 1


