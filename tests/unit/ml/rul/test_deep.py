"""The optional deep RUL model (PyTorch extra): conformance and a learning check on a synthetic fleet.

Skipped when PyTorch is not installed (it is an optional extra, not a service)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.ml.rul.conformance import check_rul_estimator
from tests.unit.ml.rul.fleet import make_fleet
from tvilling.ml.rul import interval_coverage, rmse

torch = pytest.importorskip("torch")

from tvilling.ml.rul.deep import CnnRul  # noqa: E402


def _make(seed: int) -> CnnRul:
    return CnnRul(window=10, channels=8, epochs=6, batch_size=128, cap=80.0, seed=seed, device="cpu")


@pytest.fixture(scope="module")
def fleet() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    train, _ = make_fleet(24, seed=1)
    test, truth = make_fleet(30, seed=2, truncate=True)
    return train, test, truth


def test_cnn_passes_conformance(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    check_rul_estimator(_make, train, test)


def test_cnn_learns(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, truth = fleet
    est = _make(0).fit(train)
    assert est.losses_[-1] < est.losses_[0]
    out = est.predict(test)
    mean = np.array([e.mean for e in out])
    assert rmse(mean, truth) < 0.8 * rmse(np.full_like(truth, truth.mean()), truth)
    # split-conformal intervals: the held-out units' residual quantiles around the point estimate
    assert est.residual_q_ is not None
    lo, hi = est.residual_bounds_
    assert all(abs((e.upper - e.mean) - max(hi, 0.0)) < 1e-9 for e in out)
    assert all(abs((e.mean - e.lower) - min(-lo, e.mean)) < 1e-9 for e in out if lo <= 0)
    cover = interval_coverage([e.lower for e in out], [e.upper for e in out], truth)
    assert cover >= 0.4  # 5 held-out units calibrate it: a sanity bound, FD001 figures in docs/benchmarks.md


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (CI has none)")
def test_cnn_passes_conformance_on_gpu(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    # Same contract on a GPU: deterministic given the seed (deterministic CUDA algorithms), causal, bounded.
    train, test, truth = fleet

    def make(seed: int) -> CnnRul:
        est = _make(seed)
        est.device = "cuda"
        return est
    check_rul_estimator(make, train, test)
    est = make(0).fit(train)
    assert est.device_ == "cuda"
    mean = np.array([e.mean for e in est.predict(test)])
    assert rmse(mean, truth) < 0.8 * rmse(np.full_like(truth, truth.mean()), truth)
