"""Degradation-trend RUL: fit the recent growth of a health indicator and extrapolate it to a failure threshold.

Wear that feeds on itself (a spall that widens every time a ball hits it) grows exponentially, so the log of the
health indicator is close to a straight line in time. :class:`ExponentialTrend` keeps a sliding window of
``(time, health)`` points, fits ``ln h = a + b t`` by least squares and solves for the time at which the line
reaches ``ln threshold``. Its uncertainty combines the fit's own (the joint sampling distribution of level and
slope) with a floor on the relative slope error (``rate_cv``: growth rates wander from day to day), propagated
by drawing from that distribution with a fixed seed (deterministic, no clock, no I/O). The result is a
:class:`~tvilling.ml.ports.RulEstimate` in HOURS with quantiles, so ``prob_failure_within(72)`` is P(fail ≤ 72 h).

>>> import math
>>> tr = ExponentialTrend(threshold=8.0, window_h=72.0, min_points=10)
>>> for i in range(49):  # 48 h of hourly points, growing 4 %/h from 1.0
...     tr.update(i * 3600.0, math.exp(0.04 * i))
>>> round(tr.estimate().mean, 1)  # ln(8) / 0.04 h to reach 8, of which 48 h are behind us
4.0
>>> tr = ExponentialTrend(threshold=8.0, min_points=10)
>>> for i in range(49):
...     tr.update(i * 3600.0, math.exp(0.02 * i))
>>> est = tr.estimate()
>>> 50 < est.mean < 60, est.lower < est.mean < est.upper, est.prob_failure_within(72.0) > 0.8
(True, True, True)
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from tvilling.core.errors import ValidationError
from tvilling.ml.ports import RulEstimate


class ExponentialTrend:
    """Sliding-window exponential trend of a positive health indicator (see module docstring).

    Parameters:
        threshold: the health indicator's failure level (same unit as the values fed to ``update``).
        window_h: only points from the last ``window_h`` hours are fitted (older growth may have been slower).
        min_points: no estimate before this many points are in the window.
        max_points: the window keeps at most this many points (memory bound; oldest dropped first).
        min_t: an estimate needs a slope at least this many standard errors above zero; otherwise the
            indicator is not (yet) trending and ``estimate`` returns None.
        rate_cv: floor on the relative uncertainty of the growth rate.
        horizon_h: RUL values are capped here (a flat trend does not mean "never").
        n_draws / n_quantiles / seed: Monte Carlo propagation (deterministic for a given seed).
    """

    def __init__(self, threshold: float, *, window_h: float = 72.0, min_points: int = 12, max_points: int = 2000,
                 min_t: float = 3.0, rate_cv: float = 0.15, horizon_h: float = 24.0 * 365, n_draws: int = 400,
                 n_quantiles: int = 40, seed: int = 0) -> None:
        if threshold <= 0:
            raise ValidationError("the failure threshold must be > 0 (the trend is fitted in log space)")
        if min_points < 3:
            raise ValidationError("min_points must be >= 3")
        self.threshold = threshold
        self.window_s = window_h * 3600.0
        self.min_points = min_points
        self.min_t = min_t
        self.rate_cv = rate_cv
        self.horizon_h = horizon_h
        self.n_draws = n_draws
        self.n_quantiles = n_quantiles
        self.seed = seed
        self._points: deque[tuple[float, float]] = deque(maxlen=max_points)

    def __len__(self) -> int:
        return len(self._points)

    def reset(self) -> None:
        """Forget the history (the part was replaced)."""
        self._points.clear()

    def update(self, t_s: float, health: float) -> None:
        """Add one point; ``t_s`` in seconds (any epoch), non-decreasing; non-positive health is ignored."""
        if not (health > 0.0 and math.isfinite(health) and math.isfinite(t_s)):
            return
        if self._points and t_s < self._points[-1][0]:
            return  # late point: the window is time-ordered
        self._points.append((t_s, math.log(health)))
        while self._points and self._points[0][0] < t_s - self.window_s:
            self._points.popleft()

    def estimate(self, unit: object = None) -> RulEstimate | None:
        """RUL in hours from the last point, or None when there are too few points or no significant growth."""
        if len(self._points) < self.min_points:
            return None
        arr = np.array(self._points, dtype=np.float64)
        t_now = arr[-1, 0]
        t = (arr[:, 0] - t_now) / 3600.0  # hours, ≤ 0
        y = arr[:, 1]
        n = len(t)
        t_mean = float(t.mean())
        sxx = float(np.sum((t - t_mean) ** 2))
        if sxx <= 0.0:
            return None
        slope = float(np.sum((t - t_mean) * (y - y.mean())) / sxx)
        level = float(y.mean() + slope * (0.0 - t_mean))  # fitted ln h now
        resid = y - (level + slope * t)
        s2 = float(np.sum(resid * resid) / max(n - 2, 1))
        se_slope = math.sqrt(s2 / sxx)
        if slope <= 0.0 or slope < self.min_t * se_slope:
            return None
        se_level = math.sqrt(s2 * (1.0 / n + t_mean * t_mean / sxx))
        cov = -t_mean * s2 / sxx  # Cov(level at 0, slope) for a fit centred at t_mean
        gap = math.log(self.threshold) - level
        mean = max(0.0, min(gap / slope, self.horizon_h))
        # Joint draws of (level, slope): the fit's covariance, slope error floored at rate_cv.
        sd_slope = max(se_slope, self.rate_cv * slope)
        corr = cov / (se_level * se_slope) if se_level > 0 and se_slope > 0 else 0.0
        corr = max(-0.99, min(0.99, corr))
        rng = np.random.default_rng(self.seed)
        z1 = rng.standard_normal(self.n_draws)
        z2 = corr * z1 + math.sqrt(1.0 - corr * corr) * rng.standard_normal(self.n_draws)
        lv = level + se_level * z1
        sl = slope + sd_slope * z2
        with np.errstate(divide="ignore", invalid="ignore"):
            rul = np.where(sl > 0.0, (math.log(self.threshold) - lv) / sl, self.horizon_h)
        rul = np.sort(np.clip(rul, 0.0, self.horizon_h))
        last = len(rul) - 1

        def q(p: float) -> float:  # nearest-rank quantile of the sorted draws (np.quantile costs 10x more)
            return float(rul[min(last, int(p * len(rul)))])

        quantiles = tuple(q((i + 0.5) / self.n_quantiles) for i in range(self.n_quantiles))
        lower, upper = q(0.05), q(0.95)
        return RulEstimate(unit=unit, at=float(t_now), mean=mean, lower=min(lower, mean), upper=max(upper, mean),
                           level=0.9, quantiles=quantiles)

    @property
    def last_health(self) -> float | None:
        return math.exp(self._points[-1][1]) if self._points else None


def excess_over(value: float, baseline: float) -> float:
    """The part of a level above its healthy baseline, for powers that add (``sqrt(v² - b²)``): a defect line
    growing out of a noise floor becomes a clean exponential once the floor is taken out."""
    return math.sqrt(max(value * value - baseline * baseline, 0.0))


__all__ = ["ExponentialTrend", "excess_over"]
