import numpy as np
import pandas as pd
import pytest

from tests.unit.ml.rul.fleet import make_fleet
from tvilling.ml.rul.features import Featurizer, ewm_mean, rolling_stats


def test_rolling_stats_match_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).cumsum(axis=0)
    mean, std, slope = rolling_stats(x, 7)
    for i in (0, 1, 5, 6, 20, 39):
        win = x[max(0, i - 6): i + 1]
        np.testing.assert_allclose(mean[i], win.mean(axis=0), atol=1e-9)
        np.testing.assert_allclose(std[i], win.std(axis=0), atol=1e-7)
        expected = np.polyfit(np.arange(len(win)), win, 1)[0] if len(win) > 1 else np.zeros(3)
        np.testing.assert_allclose(slope[i], expected, atol=1e-7)


def test_rolling_stats_are_causal() -> None:
    x = np.random.default_rng(1).normal(size=(30, 2))
    full = rolling_stats(x, 5)
    part = rolling_stats(x[:12], 5)
    for a, b in zip(full, part, strict=True):
        np.testing.assert_allclose(a[:12], b)


def test_constant_sensors_dropped_using_training_data_only() -> None:
    train, _ = make_fleet(8, seed=5)
    feats = Featurizer(windows=(5,)).fit(train)
    assert "sensor_7" not in feats.sensors_ and "sensor_8" not in feats.sensors_
    assert "sensor_1" in feats.sensors_
    assert feats.n_regimes_ == 1


def test_distinct_operating_conditions_found() -> None:
    train, _ = make_fleet(8, seed=6, regimes=4)
    feats = Featurizer(windows=(5,)).fit(train)
    assert feats.n_regimes_ == 4
    x, frame = feats.transform(train)
    assert len(x) == len(frame) == len(train)
    assert list(x.columns) == feats.feature_names()
    # Per-regime normalisation removes the condition shift: normalised sensors ≈ zero mean in every regime.
    regimes = feats.regime_of(frame)
    z = feats._normalised(frame, regimes)
    for r in range(4):
        assert np.abs(z[regimes == r].mean(axis=0)).max() < 1e-6


def test_features_are_finite_on_one_row_units() -> None:
    train, _ = make_fleet(8, seed=7)
    feats = Featurizer(windows=(3, 10)).fit(train)
    one = pd.DataFrame(train.groupby("unit").head(1))
    x, _ = feats.transform(one)
    assert np.isfinite(x.to_numpy()).all()


@pytest.mark.parametrize("windows", [(5,), (5, 20)])
def test_feature_count(windows: tuple[int, ...]) -> None:
    train, _ = make_fleet(6, seed=8)
    feats = Featurizer(windows=windows).fit(train)
    x, _ = feats.transform(train)
    n = len(feats.sensors_)
    assert x.shape[1] == 1 + 3 * n * len(windows) + n + 2 * len(windows) + 1


def test_ewm_mean_matches_the_adjusted_formula_and_is_causal() -> None:
    x = np.random.default_rng(2).normal(size=(25, 2))
    span = 6.0
    a = 2.0 / (span + 1.0)
    full = ewm_mean(x, span)
    for t in (0, 1, 9, 24):
        w = (1.0 - a) ** np.arange(t, -1, -1)
        np.testing.assert_allclose(full[t], (w[:, None] * x[: t + 1]).sum(axis=0) / w.sum(), atol=1e-12)
    np.testing.assert_allclose(ewm_mean(x[:10], span), full[:10])


def test_ewm_and_health_index_windows_add_their_columns() -> None:
    train, _ = make_fleet(6, seed=8)
    feats = Featurizer(windows=(1,), hi_windows=(5, 20), ewm_spans=(10, 30)).fit(train)
    x, _ = feats.transform(train)
    n = len(feats.sensors_)
    assert x.shape[1] == 1 + 3 * n + n + 2 * n + 2 * 2 + 1
    assert list(x.columns) == feats.feature_names()
    assert {"hi_slope20", f"{feats.sensors_[0]}_ewm30"} <= set(x.columns)
    # Causal: features of a unit truncated at row 15 equal the first 15 rows of the full unit.
    one = train[train["unit"] == train["unit"].iloc[0]]
    np.testing.assert_allclose(feats.transform(one.head(15))[0].to_numpy(),
                               feats.transform(one)[0].to_numpy()[:15])


def test_relative_mean_slope_and_drift_windows_are_causal_and_named() -> None:
    train, _ = make_fleet(6, seed=9)
    feats = Featurizer(windows=(1,), baseline_rows=12, relative=True, mean_windows=(5,), slope_windows=(8, 20),
                       drift_windows=(10, 25)).fit(train)
    x, _ = feats.transform(train)
    n = len(feats.sensors_)
    assert x.shape[1] == 1 + 3 * n + n + 2 * n + 2 * n + 2 * 1 + 1
    assert list(x.columns) == feats.feature_names()
    s0 = feats.sensors_[0]
    assert {f"{s0}_m5", f"{s0}_sl20", f"{s0}_drift", f"{s0}_drift25"} <= set(x.columns)
    one = train[train["unit"] == train["unit"].iloc[0]]
    full = feats.transform(one)[0]
    np.testing.assert_allclose(feats.transform(one.head(17))[0].to_numpy(), full.to_numpy()[:17])
    # relative: the unit's own baseline (first 12 rows) is subtracted, so at row 0 the current value is 0 and
    # the window-1 mean over the baseline rows averages to zero.
    assert full[f"{s0}_mean1"].iloc[0] == 0.0
    assert abs(full[f"{s0}_mean1"].iloc[:12].sum()) > 0  # causal baseline: not the final 12-row mean yet
    z = feats._normalised(one.reset_index(drop=True), np.zeros(len(one), dtype=int))
    np.testing.assert_allclose(full[f"{s0}_mean1"].iloc[30], z[30, 0] - z[:12, 0].mean())


def test_median_baseline_is_causal_and_robust_to_an_outlier() -> None:
    from tvilling.ml.rul.features import _baseline
    x = np.ones((40, 1))
    x[2, 0] = 100.0  # one outlying early cycle
    med, mean = _baseline(x, 25, "median"), _baseline(x, 25)
    assert med[-1, 0] == 1.0 and mean[-1, 0] > 4.0
    np.testing.assert_allclose(med[:5, 0], [np.median(x[: t + 1, 0]) for t in range(5)])
    assert np.all(med[25:] == med[24])  # fixed once the baseline rows have passed
    np.testing.assert_allclose(_baseline(x[:10], 25, "median"), med[:10])  # causal


def test_onset_features_are_causal_and_follow_the_health_index() -> None:
    train, _ = make_fleet(6, seed=9)
    feats = Featurizer(windows=(1,), baseline_rows=12, onset_sd=3.0).fit(train)
    assert feats.onset_level_ > 0
    x, _ = feats.transform(train)
    assert list(x.columns) == feats.feature_names() and {"hi_drift_min", "hi_since_onset"} <= set(x.columns)
    one = train[train["unit"] == train["unit"].iloc[0]]
    full = feats.transform(one)[0]
    np.testing.assert_allclose(feats.transform(one.head(40))[0].to_numpy(), full.to_numpy()[:40])
    np.testing.assert_allclose(full["hi_drift_min"], np.minimum.accumulate(full["hi_drift"]))
    since = full["hi_since_onset"].to_numpy()
    crossed = np.flatnonzero(full["hi_drift"].to_numpy() <= -feats.onset_level_)
    assert crossed.size  # a unit run to failure wears past three early-life sd
    assert np.all(since[: crossed[0]] == 0) and np.all(np.diff(since[crossed[0]:]) == 1)
    assert Featurizer(windows=(1,), baseline_rows=12).fit(train).feature_names() == feats.feature_names()[:-2]
