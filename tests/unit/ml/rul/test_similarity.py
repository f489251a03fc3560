"""Similarity-based RUL (trajectory matching) and its blend into the LightGBM estimator."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.unit.ml.rul.conformance import check_rul_estimator
from tests.unit.ml.rul.fleet import make_fleet
from tvilling.core.errors import ValidationError
from tvilling.ml.rul import LightGbmRul, TreeParams, rmse
from tvilling.ml.rul.artifact import dump_lgbm_rul
from tvilling.ml.rul.similarity import TrajectoryLibrary

FAST = TreeParams(n_estimators=60, learning_rate=0.1, num_leaves=7, min_child_samples=10)


def _trajectories(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        life = int(rng.integers(80, 160))
        t = np.arange(life, dtype=float)
        out.append(-np.expm1(3.0 * t / life) + rng.normal(0, 0.05, life))
    return out


def test_an_exact_copy_of_a_training_unit_gets_its_remaining_life() -> None:
    series = _trajectories(12, seed=0)
    lib = TrajectoryLibrary(series, window=20, k=1)
    unit = series[3]
    est = lib.estimate([unit[:50]])[0]
    # The best match of the copy is the unit itself at the same cycle: distance 0.
    assert est[-1] == pytest.approx(len(unit) - 50)
    assert est[5] == pytest.approx(len(unit) - 6)  # before the window fills: matched on the rows there are


def test_estimates_are_causal_and_shrink_towards_failure() -> None:
    series = _trajectories(30, seed=1)
    lib = TrajectoryLibrary(series[:25], window=15, k=5)
    for unit in series[25:]:
        full = lib.estimate([unit])[0]
        cut = lib.estimate([unit[:40]])[0]
        np.testing.assert_allclose(full[:40], cut)  # rows <= t only
        assert np.isfinite(full).all()
        # Near the end the estimate is small, early on large: the wear trajectory carries the information.
        assert full[-1] < 15 < full[20]
    many = lib.estimate([series[25], series[26][:3]])  # several units at once, one shorter than the window
    np.testing.assert_allclose(many[0], lib.estimate([series[25]])[0])
    assert len(many[1]) == 3


def test_library_refuses_bad_settings() -> None:
    with pytest.raises(ValidationError):
        TrajectoryLibrary([], window=10)
    with pytest.raises(ValidationError):
        TrajectoryLibrary([np.ones(20)], window=0)
    with pytest.raises(ValidationError):
        TrajectoryLibrary([np.ones(20)], k=0)
    # A library unit shorter than the window cannot be matched; the others still answer.
    lib = TrajectoryLibrary([np.ones(5), np.linspace(1, 0, 40)], window=10, k=3)
    assert np.isfinite(lib.estimate([np.linspace(1, 0.5, 20)])[0]).all()


def _make(seed: int, weight: float = 0.3) -> LightGbmRul:
    return LightGbmRul(cap_grid=(40.0, 80.0), average_caps=(50.0, 80.0), baseline_stat="mean+median", n_splits=3,
                       trees=FAST, n_bags=1, seed=seed, similarity_weight=weight, similarity_window=10,
                       similarity_k=3)


@pytest.fixture(scope="module")
def fleet() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    train, _ = make_fleet(24, seed=1)
    test, truth = make_fleet(30, seed=2, truncate=True)
    return train, test, truth


def test_blend_passes_conformance(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    check_rul_estimator(_make, train, test)


def test_blend_is_the_weighted_mean_of_trees_and_similarity(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, truth = fleet
    blended = _make(0).fit(train)
    trees = replace(_make(0), similarity_weight=0.0).fit(train)
    x, frame = blended.featurizer_.transform(test)
    units = frame["unit"].to_numpy()
    last = np.append(units[1:] != units[:-1], True)
    sim = blended._similarity(blended.library_, x, units)[last]
    expect = 0.7 * np.array([e.mean for e in trees.predict(test)]) + 0.3 * np.mean(
        [np.minimum(sim, 50.0), np.minimum(sim, 80.0)], axis=0)
    np.testing.assert_allclose([e.mean for e in blended.predict(test)], np.clip(expect, 0, 80.0), rtol=1e-9)
    assert rmse(np.array([e.mean for e in blended.predict(test)]), truth) < 0.75 * rmse(
        np.full_like(truth, truth.mean()), truth)


def test_blend_settings_are_checked_and_not_stored(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, _, _ = fleet
    with pytest.raises(ValidationError, match="similarity_weight"):
        _make(0, weight=1.5).fit(train)
    with pytest.raises(ValidationError, match="similarity blend"):
        dump_lgbm_rul(_make(0).fit(train))
