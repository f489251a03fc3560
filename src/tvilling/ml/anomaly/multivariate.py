"""Per-asset multivariate detector: each signal predicted from the others, robustly scaled residuals.

The signals are standardised with exponentially weighted means/variances; their EW correlation matrix ``C`` is
kept online. With ``P = (C + ridge I)^{-1}``, the residual of the ridge regression of signal ``j`` on all the
others is ``(P z)_j / P_jj`` with variance ``1 / P_jj`` (a classic identity), so the standardised residual is
``r_j = (P z)_j / sqrt(P_jj)``: large when signal ``j`` disagrees with what its correlated neighbours say, even
if each value alone looks normal. ``P`` is refreshed every ``refit_every`` points (the only O(d^3) step).

The score is ``1 - exp(-(q / z_scale)^2 / 2)`` with ``q`` the largest absolute residual (clipped at ``clip``),
so it lies in ``[0, 1)``; :meth:`explain_one` says which signals contributed (share of ``r_j^2``).

>>> import random
>>> rng = random.Random(1)
>>> det = MultivariateDetector(warmup=50)
>>> for _ in range(500):
...     a = rng.gauss(0, 1)
...     det.learn_one({"flow": a, "power": 2 * a + rng.gauss(0, 0.1), "temp": rng.gauss(20, 1)})
>>> det.score_one({"flow": 1.0, "power": 2.0, "temp": 20.0}) < 0.3
True
>>> odd = {"flow": 1.0, "power": -2.0, "temp": 20.0}
>>> det.score_one(odd) > 0.9, sorted(det.explain_one(odd).signals[:2])
(True, ['flow', 'power'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError
from tvilling.ml.anomaly.base import Explanation, explain_residuals

FloatArray = npt.NDArray[np.float64]


class MultivariateDetector:
    """Correlation-aware streaming detector for one asset's signals (see module docstring).

    Parameters:
        alpha: EW smoothing of means, variances and correlations (per point).
        ridge: added to the correlation diagonal before inversion (keeps near-collinear signals stable).
        warmup: points learned before any non-zero score.
        refit_every: points between refreshes of the precision matrix.
        z_scale: largest residual (in sd) that maps to ``1 - e^{-1/2}``.
        clip: residuals are clipped at this many sd so one broken sensor cannot dominate forever.
        signals: fixed signal order; by default the keys of the first ``x`` learned.
    """

    def __init__(self, *, alpha: float = 0.01, ridge: float = 0.01, warmup: int = 100, refit_every: int = 25,
                 z_scale: float = 3.0, clip: float = 50.0, signals: Sequence[str] | None = None) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError("alpha must lie in (0, 1)")
        self.alpha = alpha
        self.ridge = ridge
        self.warmup = warmup
        self.refit_every = refit_every
        self.z_scale = z_scale
        self.clip = clip
        self.signals: list[str] | None = list(signals) if signals is not None else None
        self._n = 0
        self._mean: FloatArray = np.zeros(0)
        self._var: FloatArray = np.zeros(0)
        self._corr: FloatArray = np.zeros((0, 0))
        self._prec: FloatArray | None = None

    # -- one-sample contract --------------------------------------------------------------------------
    def learn_one(self, x: Mapping[str, float]) -> None:
        self._learn_row(self._row(x, learning=True))

    def score_one(self, x: Mapping[str, float]) -> float:
        if self.signals is None:
            return 0.0
        return self._score_row(self._row(x))

    def explain_one(self, x: Mapping[str, float]) -> Explanation:
        """Score plus each signal's share of the squared residual, largest first."""
        if self.signals is None or self._n < self.warmup:
            return Explanation(self.score_one(x))
        row = self._row(x)
        return explain_residuals(self._score_row(row), self.signals, self._residuals(row))

    # -- batch forms (columns in ``signals`` order) -----------------------------------------------------
    def learn_many(self, X: npt.ArrayLike) -> None:
        for row in self._matrix(X):
            self._learn_row(row)

    def score_many(self, X: npt.ArrayLike) -> FloatArray:
        arr = self._matrix(X)
        if self.signals is None:
            return np.zeros(len(arr))
        return np.array([self._score_row(row) for row in arr], dtype=np.float64)

    def score_learn_many(self, X: npt.ArrayLike) -> FloatArray:
        arr = self._matrix(X)
        out = np.empty(len(arr))
        for t, row in enumerate(arr):
            out[t] = self._score_row(row) if self.signals is not None else 0.0
            self._learn_row(row)
        return out

    # -- internals ------------------------------------------------------------------------------------
    def _row(self, x: Mapping[str, float], *, learning: bool = False) -> FloatArray:
        if self.signals is None:
            if not learning:
                raise ValidationError("the detector has not seen any signal yet")
            self.signals = sorted(x)
        try:
            return np.array([float(x[s]) for s in self.signals], dtype=np.float64)
        except KeyError as exc:
            raise ValidationError(f"missing signal {exc.args[0]!r}", where=str(exc.args[0])) from None

    def _matrix(self, X: npt.ArrayLike) -> FloatArray:
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if self.signals is None:
            self.signals = [f"x{i}" for i in range(arr.shape[1])]
        if arr.shape[1] != len(self.signals):
            raise ValidationError(f"expected {len(self.signals)} columns, got {arr.shape[1]}")
        return arr

    def _standardise(self, row: FloatArray) -> FloatArray:
        sd = np.sqrt(np.maximum(self._var, 1e-12 * (self._mean * self._mean + 1.0)))
        z = (row - self._mean) / sd
        # a missing value (NaN) is imputed as "as expected" rather than poisoning the whole row
        return np.clip(np.nan_to_num(z, nan=0.0, posinf=self.clip, neginf=-self.clip), -self.clip, self.clip)

    def _residuals(self, row: FloatArray) -> FloatArray:
        z = self._standardise(row)
        if self._prec is None:
            self._refit()
        assert self._prec is not None
        p = self._prec
        return np.clip((p @ z) / np.sqrt(np.diag(p)), -self.clip, self.clip)

    def _score_row(self, row: FloatArray) -> float:
        if self._n < self.warmup:
            return 0.0
        r = self._residuals(row)
        # the largest residual, not an average: one broken signal among many must not be diluted
        q = float(np.max(np.abs(r))) / self.z_scale
        return 1.0 - math.exp(-0.5 * q * q)

    def _learn_row(self, row: FloatArray) -> None:
        d = len(row)
        if self._n == 0:
            self._mean = np.nan_to_num(row.copy())
            self._var = np.zeros(d)
            self._corr = np.eye(d)
        a = self.alpha
        z = self._standardise(row) if self._n > 1 else np.zeros(d)
        diff = np.nan_to_num(row - self._mean)
        self._mean = self._mean + a * diff
        self._var = (1.0 - a) * (self._var + a * diff * diff)
        self._corr = (1.0 - a) * self._corr + a * np.outer(z, z)
        self._n += 1
        if self._n % self.refit_every == 0:
            self._prec = None  # refreshed lazily at the next score

    def _refit(self) -> None:
        c = self._corr
        d = np.sqrt(np.maximum(np.diag(c), 1e-12))
        corr = c / np.outer(d, d)
        self._prec = np.linalg.inv(corr + self.ridge * np.eye(len(c)))
