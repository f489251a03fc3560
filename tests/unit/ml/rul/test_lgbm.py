from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.unit.ml.rul.conformance import check_rul_estimator
from tests.unit.ml.rul.fleet import make_fleet
from tvilling.core.errors import ValidationError
from tvilling.ml.rul import Featurizer, LightGbmRul, TreeParams, interval_coverage, rmse
from tvilling.ml.rul.features import check_history
from tvilling.ml.rul.lgbm import Bag, CapMean, GroupBag, cut_weights

FAST = TreeParams(n_estimators=60, learning_rate=0.1, num_leaves=7, min_child_samples=10)


def _make(seed: int) -> LightGbmRul:
    # One model: the bagged default is covered by its own conformance test below (keeps the suite fast).
    # average_caps=(): the cap is chosen from the grid (rounds 1-4); averaging has its own tests below.
    return LightGbmRul(cap_grid=(40.0, 80.0), average_caps=(), baseline_stat="mean", n_splits=3, trees=FAST,
                       windows=(5, 15), n_bags=1, seed=seed, n_jobs=1)


@pytest.fixture(scope="module")
def fleet() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    train, _ = make_fleet(24, seed=1)
    test, truth = make_fleet(40, seed=2, truncate=True)
    return train, test, truth


def test_lightgbm_passes_conformance(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    check_rul_estimator(_make, train, test)


def test_learns_and_intervals_are_calibrated(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, truth = fleet
    est = _make(0).fit(train)
    out = est.predict(test)
    mean = np.array([e.mean for e in out])
    # Far better than always predicting the training mean RUL.
    assert rmse(mean, truth) < 0.75 * rmse(np.full_like(truth, truth.mean()), truth)
    cover = interval_coverage([e.lower for e in out], [e.upper for e in out], truth)
    assert 0.6 <= cover <= 0.97
    # The cap was chosen by the internal CV among the grid and scored for each candidate.
    assert est.cap_ in (40.0, 80.0) and set(est.cv_rmse_) == {40.0, 80.0}


def test_fixed_cap_skips_selection(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    est = LightGbmRul(cap=50.0, n_splits=2, trees=FAST, windows=(5,), n_bags=1, n_jobs=1).fit(train)
    assert est.cap_ == 50.0
    assert max(e.mean for e in est.predict(test)) <= 50.0


def test_multi_regime_fleet_is_normalised_per_regime() -> None:
    train, _ = make_fleet(20, seed=3, regimes=6)
    test, truth = make_fleet(30, seed=4, regimes=6, truncate=True)
    est = _make(0).fit(train)
    assert est.featurizer_.n_regimes_ == 6
    mean = np.array([e.mean for e in est.predict(test)])
    assert rmse(mean, truth) < 0.75 * rmse(np.full_like(truth, truth.mean()), truth)


def test_bad_input_raises_validation_error(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    with pytest.raises(ValidationError, match="not fitted"):
        _make(0).predict(test)
    with pytest.raises(ValidationError, match="no column 'unit'"):
        _make(0).fit(train.drop(columns="unit"))
    bad = train.copy()
    bad.loc[3, "sensor_1"] = np.nan
    with pytest.raises(ValidationError, match="non-finite"):
        _make(0).fit(bad)
    with pytest.raises(ValidationError, match="at least 3"):
        _make(0).fit(train[train["unit"] <= 2])
    with pytest.raises(ValidationError, match="repeated"):
        _make(0).fit(pd.concat([train, train.head(1)]))
    with pytest.raises(ValidationError, match="empty"):
        _make(0).fit(train.head(0))


def test_bagged_estimator_passes_conformance_and_averages(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet

    def make(seed: int) -> LightGbmRul:
        return LightGbmRul(cap=60.0, n_splits=3, trees=FAST, windows=(1,), hi_windows=(5, 15), ewm_spans=(10,),
                           n_bags=2, seed=seed, n_jobs=1, baseline_stat="mean")

    check_rul_estimator(make, train, test)
    est = make(0).fit(train)
    x, _ = est.featurizer_.transform(test)
    members = [m.predict(x) for m in est.model_.models]
    assert len(members) == 2 and not np.allclose(members[0], members[1])  # the seeds differ
    np.testing.assert_allclose(est.model_.predict(x), np.mean(members, axis=0))
    with pytest.raises(ValidationError, match="n_bags"):
        LightGbmRul(n_bags=0).fit(train)


def test_unit_weight_gives_every_unit_the_same_total_weight(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    est = LightGbmRul(cap=60.0, n_splits=2, trees=FAST, n_bags=1, unit_weight=True, baseline_rows=30)
    frame = train.sort_values(["unit", "cycle"]).reset_index(drop=True)
    w = est._train_weight(frame)
    assert w is not None and len(w) == len(frame)
    totals = pd.Series(w).groupby(frame["unit"]).sum()
    np.testing.assert_allclose(totals, totals.iloc[0])
    assert LightGbmRul(unit_weight=False)._train_weight(frame) is None
    est.fit(train)
    assert len(est.predict(test)) == test["unit"].nunique()


def test_default_features_pass_conformance(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    # The default feature set and weighting (only the trees made small for speed) must stay causal and meet
    # the estimator contract, like every other configuration.
    train, test, _ = fleet

    def make(seed: int) -> LightGbmRul:
        return LightGbmRul(cap=60.0, n_splits=3, trees=FAST, n_bags=1, seed=seed, n_jobs=1)

    check_rul_estimator(make, train, test)


def test_cut_weights_give_each_unit_one_within_the_horizon() -> None:
    units = np.repeat([1, 2], [300, 120])
    rul = np.concatenate([np.arange(299, -1, -1), np.arange(119, -1, -1)]).astype(float)
    w = cut_weights(rul, units, 150.0)
    assert np.all(w[rul > 150] == 0)
    np.testing.assert_allclose(pd.Series(w).groupby(units).sum(), [1.0, 1.0])
    # The round-2 rule weighs rows 1/life: the long-lived unit counts 151/300 of the short one.
    old = pd.Series(cut_weights(rul, units, 150.0, "life")).groupby(units).sum()
    np.testing.assert_allclose(old, [151 / 300, 1.0])
    np.testing.assert_allclose(pd.Series(cut_weights(rul, units, None)).groupby(units).sum(), [1.0, 1.0])
    with pytest.raises(ValidationError, match="rule"):
        cut_weights(rul, units, 150.0, "other")


def test_round3_options_pass_conformance(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    # Truncated target, unit cut rule, ridge blend and median baseline: causal and within the contract.
    train, test, truth = fleet

    def make(seed: int) -> LightGbmRul:
        return LightGbmRul(cap_grid=(60.0,), average_caps=(), horizon=60.0, n_splits=3, trees=FAST, n_bags=1,
                           seed=seed, truncate_target=True, cut_rule="unit", linear_weight=0.3, baseline_stat="median")

    check_rul_estimator(make, train, test)
    est = make(0).fit(train)
    mean = np.array([e.mean for e in est.predict(test)])
    assert rmse(mean, truth) < 0.75 * rmse(np.full_like(truth, truth.mean()), truth)
    with pytest.raises(ValidationError, match="linear_weight"):
        LightGbmRul(linear_weight=1.5).fit(train)


def test_truncated_target_trains_only_on_rows_within_the_cap(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, _, _ = fleet
    est = LightGbmRul(cap=40.0, n_splits=2, trees=FAST, n_bags=1, truncate_target=True)
    frame = train.sort_values(["unit", "cycle"]).reset_index(drop=True)
    rul = est._true_rul(frame)
    x = pd.DataFrame({"a": np.arange(len(frame), dtype=float)})
    xs, y, w = est._training_set(frame, x, rul, 40.0)
    assert len(xs) == len(y) == int((rul <= 40).sum()) and y.max() <= 40.0
    assert w is not None
    totals = pd.Series(w).groupby(frame["unit"][rul <= 40].to_numpy()).sum()
    np.testing.assert_allclose(totals, totals.iloc[0])  # each unit weighs the same among the kept rows
    capped = LightGbmRul(cap=40.0, truncate_target=False)._training_set(frame, x, rul, 40.0)
    assert len(capped[0]) == len(frame) and capped[1].max() == 40.0


def test_ridge_blend_mixes_the_linear_prediction(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, test, _ = fleet
    est = LightGbmRul(cap=60.0, n_splits=2, trees=FAST, n_bags=1, linear_weight=0.5, baseline_stat="mean").fit(train)
    x, _ = est.featurizer_.transform(test)
    assert isinstance(est.model_, Bag)
    trees = np.asarray(est.model_.models[0].predict(x))
    linear = np.column_stack([(x.to_numpy() - est.model_.mu_) / est.model_.sd_, np.ones(len(x))]) @ est.model_.coef_
    np.testing.assert_allclose(est.model_.predict(x), 0.5 * trees + 0.5 * linear)
    assert not np.allclose(trees, linear)


def test_mean_and_median_baselines_average_two_bags(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    # Round 4: n_bags models on mean-baseline features and n_bags on median-baseline ones, averaged.
    train, test, truth = fleet

    def make(seed: int) -> LightGbmRul:
        return LightGbmRul(cap_grid=(40.0, 80.0), average_caps=(), n_splits=3, trees=FAST, n_bags=2, seed=seed,
                           baseline_stat="mean+median")

    check_rul_estimator(make, train, test)
    est = make(0).fit(train)
    x, _ = est.featurizer_.transform(test)
    mean_cols = [c for c in x.columns if c.startswith("mean_")]
    median_cols = [c for c in x.columns if c.startswith("median_")]
    assert mean_cols and len(mean_cols) == len(median_cols) == x.shape[1] // 2
    # The mean block is exactly the single-statistic featurizer's output; the median block differs.
    plain = Featurizer(windows=(1,), baseline_rows=25, health_cap=est.cap_, slope_windows=(30, 80)).fit(train)
    np.testing.assert_allclose(x[mean_cols].to_numpy(), plain.transform(test)[0].to_numpy())
    drift = [c for c in mean_cols if c.endswith("_drift")]
    assert not np.allclose(x[drift].to_numpy(), x[["median_" + c[len("mean_"):] for c in drift]].to_numpy())
    model = est.model_
    assert isinstance(model, GroupBag) and len(model.bags) == 2 and len(model.models) == 4
    by_group = [bag.predict(x[cols]) for bag, cols in zip(model.bags, (mean_cols, median_cols), strict=True)]
    assert not np.allclose(by_group[0], by_group[1])
    np.testing.assert_allclose(model.predict(x), np.mean(by_group, axis=0))
    mean = np.array([e.mean for e in est.predict(test)])
    assert rmse(mean, truth) < 0.75 * rmse(np.full_like(truth, truth.mean()), truth)
    with pytest.raises(ValidationError, match="baseline_stat"):
        LightGbmRul(baseline_stat="mode").fit(train)


def test_fold_seed_changes_the_split_only(fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, _, _ = fleet
    units = train["unit"].to_numpy()
    base = LightGbmRul(n_splits=3, seed=4)
    np.testing.assert_array_equal(base.folds(units), LightGbmRul(n_splits=3, seed=4, fold_seed=4).folds(units))
    other = LightGbmRul(n_splits=3, seed=4, fold_seed=1)
    assert not np.array_equal(base.folds(units), other.folds(units))
    # Grouped: every unit lies in one fold, and the folds are balanced.
    for est in (base, other):
        fold = est.folds(units)
        assert (pd.Series(fold).groupby(units).nunique() == 1).all()
        sizes = pd.Series(fold).groupby(units).first().value_counts()
        assert sizes.max() - sizes.min() <= 1
    # The models' seeds do not follow the fold seed.
    assert [m.random_state for m in other._bag().models] == [m.random_state for m in base._bag().models]


def test_average_caps_predicts_the_mean_of_per_cap_bags(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    # Round 5: a bag at each listed cap on the same features (health index scaled by the largest cap, as in
    # the internal CV), the prediction the mean of the per-cap predictions each clipped to its cap.
    train, test, truth = fleet

    def make(seed: int) -> LightGbmRul:
        return LightGbmRul(average_caps=(40.0, 80.0), n_splits=3, trees=FAST, windows=(5, 15), n_bags=1,
                           seed=seed, baseline_stat="mean")

    check_rul_estimator(make, train, test)
    est = make(0).fit(train)
    assert isinstance(est.model_, CapMean) and est.model_.caps == [40.0, 80.0] and est.cap_ == 80.0
    assert set(est.cv_rmse_) == {40.0, 80.0} and est.cv_rmse_averaged_ is not None
    # Rebuilt by hand: the same featurizer and the same seeds at each cap.
    frame = check_history(train, est.schema)
    rul = est._true_rul(frame)
    feats = est._featurizer(80.0).fit(frame)
    x_train, _ = feats.transform(frame)
    x_test, _ = feats.transform(test)
    per_cap = [np.clip(est._model().fit(*est._training_set(frame, x_train, rul, c)).predict(x_test), 0.0, c)
               for c in (40.0, 80.0)]
    assert not np.allclose(per_cap[0], per_cap[1])
    got = np.array([e.mean for e in est.predict_history(test)])
    np.testing.assert_allclose(got, np.mean(per_cap, axis=0))
    assert not np.allclose(got, per_cap[0]) and not np.allclose(got, per_cap[1])
    mean = np.array([e.mean for e in est.predict(test)])
    assert rmse(mean, truth) < 0.75 * rmse(np.full_like(truth, truth.mean()), truth)
    # A fixed cap overrides average_caps: one bag, no averaging.
    fixed = LightGbmRul(cap=50.0, average_caps=(40.0, 80.0), n_splits=2, trees=FAST, windows=(5,), n_bags=1,
                        baseline_stat="mean")
    fixed.fit(train)
    assert fixed.cap_ == 50.0 and isinstance(fixed.model_, Bag) and fixed.cv_rmse_averaged_ is None
    with pytest.raises(ValidationError, match="repeated"):
        LightGbmRul(average_caps=(40.0, 40.0)).fit(train)


def test_average_caps_calibrates_on_the_averaged_out_of_fold_predictions(
        fleet: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]) -> None:
    train, _, _ = fleet
    est = LightGbmRul(average_caps=(40.0, 80.0), n_splits=3, trees=FAST, windows=(5,), n_bags=1,
                      baseline_stat="mean").fit(train)
    frame = check_history(train, est.schema)
    rul = est._true_rul(frame)
    w = cut_weights(rul, frame["unit"].to_numpy(), est.horizon, est.cut_rule)
    oof = est.out_of_fold(frame, [40.0, 80.0])
    averaged = np.mean([oof[40.0], oof[80.0]], axis=0)
    assert est.cv_rmse_averaged_ == pytest.approx(float(np.sqrt(np.average((averaged - rul) ** 2, weights=w))))
    cal = replace(est)
    cal._calibrate(averaged, rul, w)
    np.testing.assert_allclose(est.bin_edges_, cal.bin_edges_)
    np.testing.assert_allclose(np.array(est.residual_q_), np.array(cal.residual_q_))
    assert est.residual_bounds_ == cal.residual_bounds_
    for c in (40.0, 80.0):  # not the calibration of either single cap
        single = replace(est)
        single._calibrate(oof[c], rul, w)
        assert not np.allclose(np.array(est.residual_q_), np.array(single.residual_q_))


def test_defaults_are_the_round5_choice() -> None:
    # Adopted in round 5 (bench/rul_cv/round5_decision.json): caps 130 and 140 averaged, mean + median
    # baselines; the rest as chosen in round 2.
    est = LightGbmRul()
    assert tuple(est.average_caps) == (130.0, 140.0) and est.baseline_stat == "mean+median"
    assert est.cap is None and est._averaging() and est._caps() == [130.0, 140.0]
    assert est.n_bags == 3 and est.baseline_rows == 25 and tuple(est.slope_windows) == (30, 80)
    assert est.cut_rule == "life" and est.horizon == 150.0 and est.unit_weight
    assert isinstance(est._model(), GroupBag)
