"""Causal features for run-to-failure histories.

Every feature of the row at cycle ``t`` of a unit is computed from that unit's rows ``<= t`` only, so a
prediction made now never changes when later cycles arrive (the conformance suite checks this). Everything
that is *learned* (which sensors to drop, operating regimes, per-regime sensor statistics, the health-index
weights) is learned in :meth:`Featurizer.fit` from training histories only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from tvilling.core.errors import ValidationError


@dataclass(frozen=True)
class Schema:
    """Which columns of a history frame mean what. Settings default to columns whose name starts with
    ``setting``; sensors to every other numeric column."""

    unit: str = "unit"
    time: str = "cycle"
    settings: tuple[str, ...] | None = None
    sensors: tuple[str, ...] | None = None

    def resolve(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        for col in (self.unit, self.time):
            if col not in frame.columns:
                raise ValidationError(f"history has no column {col!r}", hint=f"columns: {list(frame.columns)[:8]}")
        rest = [c for c in frame.columns if c not in (self.unit, self.time)]
        settings = list(self.settings) if self.settings is not None else [
            c for c in rest if str(c).lower().startswith("setting")]
        sensors = list(self.sensors) if self.sensors is not None else [c for c in rest if c not in settings]
        missing = [c for c in [*settings, *sensors] if c not in frame.columns]
        if missing:
            raise ValidationError(f"history lacks columns {missing}")
        if not sensors:
            raise ValidationError("history has no sensor columns")
        return settings, sensors


def check_history(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Validate and return the frame sorted by (unit, time). Raises :class:`ValidationError` on bad input."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("history must be a pandas DataFrame")
    if frame.empty:
        raise ValidationError("history is empty")
    settings, sensors = schema.resolve(frame)
    cols = [schema.unit, schema.time, *settings, *sensors]
    for col in cols[1:]:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise ValidationError(f"column {col!r} is not numeric")
        if not np.isfinite(frame[col].to_numpy(dtype=float)).all():
            raise ValidationError(f"column {col!r} has missing or non-finite values")
    out = frame.sort_values([schema.unit, schema.time], kind="stable").reset_index(drop=True)
    if out.duplicated([schema.unit, schema.time]).any():
        raise ValidationError("history has a repeated (unit, time) pair")
    return out


def _unit_slices(units: np.ndarray) -> list[slice]:
    """Contiguous slices of a sorted unit column."""
    if len(units) == 0:
        return []
    change = np.flatnonzero(units[1:] != units[:-1]) + 1
    bounds = [0, *change.tolist(), len(units)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def rolling_stats(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing-window mean, std and least-squares slope (per step) of each column of ``x`` (one unit's
    rows in time order). Windows shorter than ``window`` at the start use the rows available (causal)."""
    n = x.shape[0]
    idx = np.arange(n, dtype=float)
    start = np.maximum(np.arange(n) - window + 1, 0)
    end = np.arange(n) + 1
    count = (end - start).astype(float)[:, None]

    def wsum(values: np.ndarray) -> np.ndarray:
        c = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
        return np.asarray(c[end] - c[start])

    s1 = wsum(x)
    s2 = wsum(x * x)
    st = wsum(idx[:, None])
    stt = wsum((idx * idx)[:, None])
    stx = wsum(idx[:, None] * x)
    mean = s1 / count
    std = np.sqrt(np.maximum(s2 / count - mean * mean, 0.0))
    denom = count * stt - st * st
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(denom > 0, (count * stx - st * s1) / np.where(denom > 0, denom, 1.0), 0.0)
    return mean, std, slope


def ewm_mean(x: np.ndarray, span: float) -> np.ndarray:
    """Adjusted exponentially weighted mean of each column (one unit's rows in time order): row ``t`` is
    Σ_{i≤t} (1−a)^{t−i} x_i / Σ_{i≤t} (1−a)^{t−i} with a = 2/(span+1), so it uses rows ≤ t only."""
    if span < 1:
        raise ValidationError(f"ewm span must be >= 1, got {span}")
    return np.asarray(pd.DataFrame(x).ewm(span=span, adjust=True).mean().to_numpy())


def _baseline(x: np.ndarray, rows: int, stat: str = "mean") -> np.ndarray:
    """Mean (or median) of the unit's first ``rows`` rows, or of all rows seen so far while fewer exist
    (causal)."""
    n = x.shape[0]
    if stat == "median":
        head = np.array([np.median(x[: t + 1], axis=0) for t in range(min(n, rows))])
        return np.asarray(head[np.minimum(np.arange(n), rows - 1)])
    c = np.cumsum(x, axis=0)
    k = np.minimum(np.arange(n), rows - 1)
    return np.asarray(c[k] / (k + 1)[:, None])


def _onset(drift: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Causal, per unit: the lowest health-index drift so far, and the cycles since the drift first reached
    ``-level`` (0 before that)."""
    worst = np.minimum.accumulate(drift)
    crossed = np.flatnonzero(drift <= -level)
    since = np.zeros(len(drift))
    if crossed.size:
        since[crossed[0]:] = np.arange(len(drift) - crossed[0])
    return worst[:, None], since[:, None]


@dataclass
class Featurizer:
    """Learned preprocessing + causal rolling features.

    ``windows``: trailing window lengths (cycles) for mean/std/slope. ``baseline_rows``: early-life rows whose
    mean is each unit's own baseline (units differ by manufacturing scatter; wear shows as drift from it).
    ``max_regimes``: upper bound for the operating-regime clustering of the settings; the number actually
    used is 1 unless the settings form clearly separated clusters (silhouette ≥ ``regime_silhouette``).
    ``hi_windows``: trailing windows for the health index's mean and slope (``None``: the same as
    ``windows``). The index is one denoised column, so long slopes on it are cheap where per-sensor ones are
    not. ``ewm_spans``: spans of exponentially weighted means of every normalised sensor (adjusted, per unit,
    so causal) — a smoother that weighs recent cycles most without a hard window edge.
    ``relative``: subtract each unit's own causal baseline (mean of its first ``baseline_rows`` rows, or of
    the rows so far) from the sensors before the ``windows``/``mean_windows``/``ewm_spans`` features, so
    they measure wear rather than manufacturing scatter. ``mean_windows`` / ``slope_windows``: trailing
    means only / least-squares slopes only (cheaper than the full mean/std/slope of ``windows``).
    ``drift_windows``: trailing-mean windows whose difference from the baseline is a drift feature (10 is
    named ``<sensor>_drift``, others ``<sensor>_drift<w>``). ``hi_on_drift``: fit the health index on the
    sensors' drift from the unit's baseline instead of on their absolute (regime-normalised) level.
    """

    schema: Schema = field(default_factory=Schema)
    windows: Sequence[int] = (5, 10, 20, 30)
    baseline_rows: int = 15
    max_regimes: int = 8
    regime_silhouette: float = 0.85
    health_cap: float = 125.0
    hi_windows: Sequence[int] | None = None
    ewm_spans: Sequence[float] = ()
    relative: bool = False
    mean_windows: Sequence[int] = ()
    slope_windows: Sequence[int] = ()
    drift_windows: Sequence[int] = (10,)
    hi_on_drift: bool = False
    # "median": the unit baseline is the median of its first rows, robust to an outlying early cycle.
    baseline_stat: str = "mean"
    # > 0: wear-onset features: the health index's worst drift so far and the cycles since its drift first fell
    # below ``onset_sd`` times its early-life sd (0 before), so the trees can tell "just started to wear" from
    # "wearing for a while" at the same level.
    onset_sd: float = 0.0
    seed: int = 0

    def _hi_windows(self) -> tuple[int, ...]:
        return tuple(self.windows if self.hi_windows is None else self.hi_windows)

    def fit(self, frame: pd.DataFrame) -> Featurizer:
        if self.baseline_stat not in ("mean", "median"):
            raise ValidationError(f"baseline_stat must be 'mean' or 'median', got {self.baseline_stat!r}")
        frame = check_history(frame, self.schema)
        self.settings_, sensors = self.schema.resolve(frame)
        self._fit_regimes(frame)
        regimes = self.regime_of(frame)
        raw = frame[sensors].to_numpy(dtype=float)
        # Drop sensors that carry no information inside an operating regime: constant, or with at most two
        # distinct values (quantisation flicker) in most regimes. Decided on training data only.
        keep: list[str] = []
        means = np.zeros((self.n_regimes_, len(sensors)))
        stds = np.ones((self.n_regimes_, len(sensors)))
        for j, name in enumerate(sensors):
            flat = 0
            for r in range(self.n_regimes_):
                vals = raw[regimes == r, j]
                if len(vals) == 0:
                    continue
                means[r, j] = vals.mean()
                sd = vals.std()
                stds[r, j] = sd if sd > 0 else 1.0
                if sd <= 1e-12 * (1.0 + abs(vals.mean())) or len(np.unique(vals)) <= 2:
                    flat += 1
            if flat * 2 < self.n_regimes_:
                keep.append(name)
        if not keep:
            raise ValidationError("every sensor is constant in the training histories")
        idx = [sensors.index(k) for k in keep]
        self.sensors_ = keep
        self.means_ = means[:, idx]
        self.stds_ = stds[:, idx]
        # Health index: linear map from smoothed normalised sensors to a 1 → 0 health target (capped RUL
        # scaled to [0, 1]); a denoised one-dimensional degradation summary the trees can use directly.
        z = self._normalised(frame, regimes)
        smooth = self._per_unit(frame, z, self._hi_input)
        life = frame.groupby(self.schema.unit)[self.schema.time].transform("max").to_numpy(dtype=float)
        target = np.minimum((life - frame[self.schema.time].to_numpy(dtype=float)) / self.health_cap, 1.0)
        design = np.column_stack([smooth, np.ones(len(smooth))])
        ridge = 1e-3 * np.eye(design.shape[1])
        self.health_w_ = np.linalg.solve(design.T @ design + ridge, design.T @ target)
        self.onset_level_ = 0.0
        if self.onset_sd > 0:
            # Early life (after the baseline rows, before twice as many) is healthy in any run to failure.
            early = [d[self.baseline_rows: 2 * self.baseline_rows]
                     for d in (self._hi_drift(z[sl]) for sl in _unit_slices(frame[self.schema.unit].to_numpy()))]
            spread = float(np.std(np.concatenate(early))) if early else 0.0
            self.onset_level_ = self.onset_sd * spread
        return self

    def _hi(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One unit's health index (column) and the 10-cycle smoothed sensors it came from."""
        smooth10 = rolling_stats(x, 10)[0]
        hi_in = self._hi_input(x, smooth10)
        return (np.column_stack([hi_in, np.ones(len(x))]) @ self.health_w_)[:, None], smooth10

    def _hi_drift(self, x: np.ndarray) -> np.ndarray:
        hi = self._hi(x)[0]
        return np.asarray((hi - _baseline(hi, self.baseline_rows, self.baseline_stat))[:, 0])

    def _fit_regimes(self, frame: pd.DataFrame) -> None:
        # One thread: KMeans' OpenMP pool spin-waits badly on a busy 2-core machine, and the data is small.
        with threadpool_limits(limits=1):
            self._fit_regimes_serial(frame)

    def _fit_regimes_serial(self, frame: pd.DataFrame) -> None:
        self.n_regimes_ = 1
        # The regime centres (standardised settings); a cycle belongs to the nearest, as KMeans.predict says.
        # Kept as plain numbers, so a stored model needs no scikit-learn object.
        self.centers_: np.ndarray | None = None
        if not self.settings_:
            return
        s = frame[self.settings_].to_numpy(dtype=float)
        self.set_mu_ = s.mean(axis=0)
        self.set_sd_ = np.where(s.std(axis=0) > 0, s.std(axis=0), 1.0)
        zs = (s - self.set_mu_) / self.set_sd_
        rng = np.random.default_rng(self.seed)
        sample = zs[rng.choice(len(zs), size=min(len(zs), 1000), replace=False)]
        best_k, best_score = 1, -1.0
        for k in range(2, self.max_regimes + 1):
            if len(np.unique(sample, axis=0)) <= k:
                break
            km = KMeans(n_clusters=k, n_init=2, random_state=self.seed).fit(sample)
            score = float(silhouette_score(sample, km.labels_))
            if score > best_score:
                best_k, best_score = k, score
        # Distinct flight conditions (FD002/FD004) give silhouettes ≈ 0.99; measurement noise around one
        # condition (FD001/FD003) stays far below the threshold.
        if best_score >= self.regime_silhouette:
            km = KMeans(n_clusters=best_k, n_init=5, random_state=self.seed).fit(zs)
            self.centers_ = np.asarray(km.cluster_centers_, dtype=np.float64)
            self.n_regimes_ = best_k

    def _hi_input(self, x: np.ndarray, smooth10: np.ndarray | None = None) -> np.ndarray:
        """What the health index is fitted on: the 10-cycle smoothed sensors, or their drift from the baseline."""
        smooth = rolling_stats(x, 10)[0] if smooth10 is None else smooth10
        return smooth - _baseline(x, self.baseline_rows, self.baseline_stat) if self.hi_on_drift else smooth

    def regime_of(self, frame: pd.DataFrame) -> np.ndarray:
        if self.centers_ is None:
            return np.zeros(len(frame), dtype=int)
        zs = (frame[self.settings_].to_numpy(dtype=float) - self.set_mu_) / self.set_sd_
        return np.asarray(((zs[:, None, :] - self.centers_[None]) ** 2).sum(axis=2).argmin(axis=1), dtype=int)

    def _normalised(self, frame: pd.DataFrame, regimes: np.ndarray) -> np.ndarray:
        raw = frame[self.sensors_].to_numpy(dtype=float)
        return np.asarray((raw - self.means_[regimes]) / self.stds_[regimes])

    def _per_unit(self, frame: pd.DataFrame, values: np.ndarray, fn: object) -> np.ndarray:
        out: list[np.ndarray] = []
        for sl in _unit_slices(frame[self.schema.unit].to_numpy()):
            out.append(fn(values[sl]))  # type: ignore[operator]
        return np.vstack(out)

    def feature_names(self) -> list[str]:
        names = ["cycle"]
        for w in self.windows:
            for stat in ("mean", "std", "slope"):
                names += [f"{s}_{stat}{w}" for s in self.sensors_]
        for w in self.mean_windows:
            names += [f"{s}_m{w}" for s in self.sensors_]
        for w in self.slope_windows:
            names += [f"{s}_sl{w}" for s in self.sensors_]
        for w in self.drift_windows:
            names += [f"{s}_drift" if w == 10 else f"{s}_drift{w}" for s in self.sensors_]
        for span in self.ewm_spans:
            names += [f"{s}_ewm{span:g}" for s in self.sensors_]
        hw = self._hi_windows()
        names += [f"hi_mean{w}" for w in hw] + [f"hi_slope{w}" for w in hw] + ["hi_drift"]
        if self.onset_sd > 0:
            names += ["hi_drift_min", "hi_since_onset"]
        return names

    def transform(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Features for every row of ``frame``; rows follow the returned validated copy of ``frame``,
        sorted by unit and time (second value)."""
        frame = check_history(frame, self.schema)
        missing = [c for c in [*self.settings_, *self.sensors_] if c not in frame.columns]
        if missing:
            raise ValidationError(f"history lacks columns the model was fitted on: {missing}")
        z = self._normalised(frame, self.regime_of(frame))
        units = frame[self.schema.unit].to_numpy()
        blocks: list[np.ndarray] = []
        for sl in _unit_slices(units):
            x = z[sl]
            base = _baseline(x, self.baseline_rows, self.baseline_stat)
            xr = x - base if self.relative else x
            cols = [frame[self.schema.time].to_numpy(dtype=float)[sl][:, None]]
            for w in self.windows:
                cols.extend(rolling_stats(xr, w))
            cols.extend(rolling_stats(xr, w)[0] for w in self.mean_windows)
            cols.extend(rolling_stats(x, w)[2] for w in self.slope_windows)
            hi, smooth10 = self._hi(x)
            cols.extend((smooth10 if w == 10 else rolling_stats(x, w)[0]) - base for w in self.drift_windows)
            cols.extend(ewm_mean(xr, span) for span in self.ewm_spans)
            hi_stats = [rolling_stats(hi, w) for w in self._hi_windows()]
            cols.extend(m for m, _, _ in hi_stats)
            cols.extend(s for _, _, s in hi_stats)
            drift = hi - _baseline(hi, self.baseline_rows, self.baseline_stat)
            cols.append(drift)
            if self.onset_sd > 0:
                cols.extend(_onset(drift[:, 0], self.onset_level_))
            blocks.append(np.hstack(cols))
        return pd.DataFrame(np.vstack(blocks), columns=self.feature_names()), frame
