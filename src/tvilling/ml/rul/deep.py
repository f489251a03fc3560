"""Optional deep RUL estimator: a small 1-D CNN over trailing windows of causal features, with quantile outputs.

Install the extra (``pip install 'tvilling[deep]'``, PyTorch); PyTorch is imported only when a
:class:`CnnRul` is fitted or used, so the rest of the platform never needs it. It runs on a GPU when one is
available (``device="auto"``), otherwise on the CPU.

How it works:

* features: the same causal pipeline as :class:`~tvilling.ml.rul.LightGbmRul` (per-regime normalised sensors,
  rolling statistics, health index; ``tvilling.ml.rul.features.Featurizer``), standardised with training means;
* input: for every row, the trailing ``window`` rows of its unit (left-padded with the unit's first row), so the
  estimate at cycle ``t`` uses cycles ≤ ``t`` only;
* network: two 1-D convolutions + global average pooling + a linear head with ``n_quantiles`` outputs,
  trained with the pinball loss on the capped RUL (``cap``); the outputs are sorted (no quantile crossing) and
  are the predictive quantiles at probabilities ``(i + 0.5) / n_quantiles`` → ``mean`` (their average),
  ``lower``/``upper`` (interpolated at ``(1 ± level) / 2``) and P(failure within H).

Intervals: raw quantile-regression intervals of a network under-cover badly (they are as tight as the fit on
the training rows). So by default (``calibration=0.2``) a fifth of the training units, drawn with ``seed``, is
held out: the network is fitted on the rest, and its residuals on the held-out units (cut points with true
RUL ≤ ``horizon``, each unit weighing the same) give the predictive distribution around the point estimate —
split conformal, as LightGBM's estimator does with cross-fitting. ``calibration=0`` uses every unit for the
fit and the network's own quantiles. Training is deterministic for a given ``seed`` on a given device
(``torch.use_deterministic_algorithms``; on CUDA also cuBLAS's fixed workspace, and the pooling is a plain
average because adaptive pooling has no deterministic CUDA backward); inference runs in float64 on the CPU so
that an estimate does not depend on which other rows share its batch.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tvilling.core.errors import ConfigurationError, ValidationError
from tvilling.ml.ports import RulEstimate
from tvilling.ml.rul.features import Featurizer, Schema, check_history
from tvilling.ml.rul.lgbm import weighted_quantiles


def _torch() -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise ConfigurationError("the deep RUL model needs PyTorch",
                                 hint="pip install 'tvilling[deep]'") from None


@dataclass
class CnnRul:
    """1-D CNN quantile regressor for remaining useful life (cycles). Parameters are plain settings:
    ``window`` rows per input, ``channels`` per convolution, ``epochs`` over the training rows,
    ``batch_size``, ``learning_rate`` (Adam), ``cap`` (cycles; early life counts as RUL ≥ cap),
    ``level`` (nominal interval coverage), ``n_quantiles``, ``seed``, ``device`` (auto / cpu / cuda),
    ``threads`` (CPU threads; 1 on a shared machine)."""

    window: int = 30
    channels: int = 32
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 2e-3
    cap: float = 125.0
    level: float = 0.8
    n_quantiles: int = 20
    baseline_rows: int = 15
    calibration: float = 0.2  # share of training units held out to calibrate the intervals (0: none)
    horizon: float = 150.0  # calibration uses held-out cut points with true RUL up to this many cycles
    schema: Schema | None = None
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit(self, histories: pd.DataFrame) -> CnnRul:
        if not 0.0 < self.level < 1.0 or self.window < 1 or self.n_quantiles < 4 or self.cap <= 0:
            raise ValidationError("need 0 < level < 1, window >= 1, n_quantiles >= 4 and cap > 0")
        torch = _torch()
        schema = self.schema or Schema()
        frame = check_history(histories, schema)
        units = frame[schema.unit].to_numpy()
        uniq = np.unique(units)
        n_cal = round(self.calibration * len(uniq))
        if n_cal >= 1 and len(uniq) - n_cal >= 2:
            held = np.random.default_rng(self.seed).permutation(uniq)[:n_cal]
            cal_mask = np.isin(units, held)
            calib, frame = frame[cal_mask].reset_index(drop=True), frame[~cal_mask].reset_index(drop=True)
        else:
            calib = None
        self.featurizer_ = Featurizer(schema=schema, windows=(5, 10), baseline_rows=self.baseline_rows,
                                      health_cap=self.cap, seed=self.seed).fit(frame)
        x, frame = self.featurizer_.transform(frame)
        feats = x.to_numpy(dtype=float)
        self.mean_ = feats.mean(axis=0)
        self.std_ = np.where(feats.std(axis=0) > 0, feats.std(axis=0), 1.0)
        windows = self._windows((feats - self.mean_) / self.std_, frame[schema.unit].to_numpy())
        time = frame[schema.time].to_numpy(dtype=float)
        life = frame.groupby(schema.unit)[schema.time].transform("max").to_numpy(dtype=float)
        target = np.minimum(life - time, self.cap) / self.cap  # scaled to [0, 1] for a well-conditioned fit

        # process-wide torch settings: set for this fit, restored afterwards
        threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        torch.manual_seed(self.seed)
        torch.set_num_threads(self.threads)
        dev = self._device(torch)
        if dev.startswith("cuda"):
            # cuBLAS is deterministic only with a fixed workspace; read when the process first uses cuBLAS.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        try:
            self._train(torch, dev, windows, target)
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic)
        self.device_ = dev  # where it was trained
        self.schema_ = schema
        self.residual_q_: np.ndarray | None = None
        if calib is not None:
            self._calibrate(calib)
        return self

    def _train(self, torch: Any, dev: str, windows: np.ndarray, target: np.ndarray) -> None:
        self.net_ = self._network(torch, windows.shape[1]).to(dev)
        probs = torch.tensor(self._probs(), dtype=torch.float32, device=dev)
        # the whole training set lives on the device: one copy, not one per batch
        data_x = torch.tensor(windows, dtype=torch.float32, device=dev)
        data_y = torch.tensor(target, dtype=torch.float32, device=dev)
        optimiser = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed)
        self.net_.train()
        self.losses_: list[float] = []
        for _epoch in range(self.epochs):
            order = torch.randperm(len(data_x), generator=generator).to(dev)  # drawn on the CPU: same order anywhere
            total = torch.zeros((), device=dev)  # summed on the device: no host sync per batch
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                xb, yb = data_x[idx], data_y[idx]
                diff = yb[:, None] - self.net_(xb)
                loss = torch.maximum(probs * diff, (probs - 1.0) * diff).mean()  # pinball loss
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.detach() * len(idx)
            self.losses_.append(float(total) / len(order))
        self.net_ = self.net_.to("cpu").double().eval()

    def _calibrate(self, calib: pd.DataFrame) -> None:
        """Residuals (true − predicted) of held-out units → quantiles at the estimator's probabilities."""
        schema = self.schema_
        point, frame = self._points(calib)
        time = frame[schema.time].to_numpy(dtype=float)
        life = frame.groupby(schema.unit)[schema.time].transform("max").to_numpy(dtype=float)
        rul = life - time
        weight = 1.0 / frame.groupby(schema.unit)[schema.time].transform("size").to_numpy(dtype=float)
        weight = np.where(rul <= self.horizon, weight, 0.0)
        if not weight.any():
            return
        probs = self._probs()
        alpha = (1.0 - self.level) / 2.0
        self.residual_q_ = weighted_quantiles(rul - point, weight, probs)
        self.residual_bounds_ = tuple(float(v) for v in weighted_quantiles(rul - point, weight,
                                                                           np.array([alpha, 1.0 - alpha])))

    def _device(self, torch: Any) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def _network(self, torch: Any, n_features: int) -> Any:
        nn = torch.nn
        c = self.channels
        return nn.Sequential(
            nn.Conv1d(n_features, c, kernel_size=5, padding=2), nn.ReLU(),
            nn.Conv1d(c, c, kernel_size=5, padding=2), nn.ReLU(),
            nn.AvgPool1d(self.window), nn.Flatten(), nn.Linear(c, c), nn.ReLU(), nn.Linear(c, self.n_quantiles))

    def _probs(self) -> np.ndarray:
        return (np.arange(self.n_quantiles) + 0.5) / self.n_quantiles

    def _windows(self, z: np.ndarray, units: np.ndarray) -> np.ndarray:
        """(rows, features, window): each row's trailing window within its unit, left-padded with the first row."""
        out = np.empty((len(z), z.shape[1], self.window))
        starts = np.flatnonzero(np.append(True, units[1:] != units[:-1]))
        ends = np.append(starts[1:], len(z))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            block = np.vstack([np.repeat(z[a:a + 1], self.window - 1, axis=0), z[a:b]])
            view = np.lib.stride_tricks.sliding_window_view(block, self.window, axis=0)  # (b - a, feats, window)
            out[a:b] = view
        return out

    # ---- prediction ----------------------------------------------------------------------------------------
    def predict_history(self, histories: pd.DataFrame) -> list[RulEstimate]:
        """One estimate per row, sorted by (unit, time); each sees only its unit's rows up to that time."""
        if not hasattr(self, "net_"):
            raise ValidationError("the estimator is not fitted; call fit() first")
        raw, frame = self._quantiles(histories)
        probs = self._probs()
        alpha = (1.0 - self.level) / 2.0
        times = frame[self.schema_.time].to_numpy(dtype=float)
        unit_list = frame[self.schema_.unit].to_numpy().tolist()
        out: list[RulEstimate] = []
        for i, net_q in enumerate(raw):
            mean = float(net_q.mean())
            if self.residual_q_ is not None:  # calibrated: the held-out residuals around the point estimate
                row = np.maximum(mean + self.residual_q_, 0.0)
                lo, hi = self.residual_bounds_
                lower, upper = min(max(mean + lo, 0.0), mean), max(mean + hi, mean)
            else:
                row = net_q
                lower = min(float(np.interp(alpha, probs, row)), mean)
                upper = max(float(np.interp(1.0 - alpha, probs, row)), mean)
            out.append(RulEstimate(unit=unit_list[i], at=float(times[i]),
                                   mean=mean, lower=lower, upper=upper, level=self.level,
                                   quantiles=tuple(row.tolist())))
        return out

    def _quantiles(self, histories: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """The network's sorted quantiles (cycles, ≥ 0) for every row, and the validated, sorted frame."""
        torch = _torch()
        x, frame = self.featurizer_.transform(histories)
        windows = self._windows((x.to_numpy(dtype=float) - self.mean_) / self.std_,
                                frame[self.schema_.unit].to_numpy())
        with torch.no_grad():
            raw = self.net_(torch.tensor(windows, dtype=torch.float64)).numpy()
        return np.clip(np.sort(raw, axis=1), 0.0, None) * self.cap, frame

    def _points(self, histories: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        q, frame = self._quantiles(histories)
        return q.mean(axis=1), frame

    def predict(self, histories: pd.DataFrame) -> list[RulEstimate]:
        """One estimate per unit at its last row, in ascending unit order (the last row of
        :meth:`predict_history`, so the two agree exactly)."""
        history = self.predict_history(histories)
        last: dict[Any, RulEstimate] = {e.unit: e for e in history}  # rows are sorted by (unit, time)
        return list(last.values())
