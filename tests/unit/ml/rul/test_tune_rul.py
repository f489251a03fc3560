"""bench/tune_rul.py: the split-seed aggregation and the round-4 adoption rule (no model fitted), and the
round-5 scoring of an ``average_caps`` variant (small synthetic fleet)."""

from pathlib import Path

import numpy as np
import pytest
from bench.tune_rul import adoptable, aggregate_splits, compare_splits, cv_coverage, evaluate

from tests.unit.ml.rul.fleet import make_fleet
from tvilling.cli.bench_rul import read_cmapss
from tvilling.ml.rul import LightGbmRul, TreeParams
from tvilling.ml.rul.features import check_history
from tvilling.ml.rul.lgbm import cut_weights


def _run(rmse: float, cap: float = 140.0, cover: float = 0.8) -> dict[str, object]:
    return {"scores": {str(cap): rmse}, "cap": cap, "rmse": rmse, "cv_coverage": cover}


def _files(
    fd1: list[float], fd3: list[float], cover: float = 0.8, seeds: tuple[int, ...] = (0, 1, 2)
) -> dict[str, dict[str, object]]:
    return {
        "FD001": aggregate_splits({s: _run(r, cover=cover) for s, r in zip(seeds, fd1, strict=True)}),
        "FD003": aggregate_splits({s: _run(r, cover=cover) for s, r in zip(seeds, fd3, strict=True)}),
    }


def test_aggregate_splits_means_over_seeds_in_seed_order() -> None:
    agg = aggregate_splits({2: _run(11.0, 130.0, 0.79), 0: _run(12.0, 140.0, 0.81), 1: _run(11.5, 150.0, 0.80)})
    assert agg["split_seeds"] == [0, 1, 2]
    assert agg["rmse_per_split"] == [12.0, 11.5, 11.0]
    assert agg["cap_per_split"] == [140.0, 150.0, 130.0]
    assert agg["rmse"] == 11.5 and agg["cv_coverage"] == 0.8
    splits = agg["splits"]
    assert isinstance(splits, dict) and set(splits) == {"0", "1", "2"}
    with pytest.raises(ValueError, match="no split"):
        aggregate_splits({})


def test_compare_splits_counts_splits_won_on_every_file() -> None:
    ref = _files([11.3, 11.3, 11.3], [11.2, 11.2, 11.2])
    # Split 0 won on both files, split 1 lost on FD003, split 2 won on both.
    cand = _files([11.1, 11.2, 11.0], [11.0, 11.3, 11.0])
    cmp = compare_splits(cand, ref)
    assert cmp["gain"] == {"FD001": 0.2, "FD003": 0.1}
    assert cmp["min_gain"] == 0.1
    assert cmp["splits_won_on_every_file"] == 2
    assert cmp["won_per_split"] == {"0": True, "1": False, "2": True}
    assert adoptable(cmp, cand, 0.10, 2, (0.77, 0.83))
    assert not adoptable(cmp, cand, 0.15, 2, (0.77, 0.83))  # FD003 gains 0.1 only
    assert not adoptable(cmp, cand, 0.10, 3, (0.77, 0.83))  # split 1 was not won on both files
    wide = _files([11.1, 11.2, 11.0], [11.0, 11.3, 11.0], cover=0.85)
    assert not adoptable(compare_splits(wide, ref), wide, 0.10, 2, (0.77, 0.83))


def test_compare_splits_refuses_different_seeds() -> None:
    ref = _files([11.3, 11.3, 11.3], [11.2, 11.2, 11.2])
    cand = _files([11.0, 11.0, 11.0], [11.0, 11.0, 11.0], seeds=(0, 1, 3))
    with pytest.raises(ValueError, match="split seeds"):
        compare_splits(cand, ref)


def test_average_caps_variant_is_scored_on_its_averaged_out_of_fold_predictions(tmp_path: Path) -> None:
    train, _ = make_fleet(15, seed=5)
    path = tmp_path / "train_SYN.txt"  # the C-MAPSS layout: 26 columns, the missing sensors constant
    cols = train.to_numpy(dtype=float)
    np.savetxt(path, np.column_stack([cols, np.full((len(cols), 26 - cols.shape[1]), 7.0)]), fmt="%.6f")
    fast = TreeParams(n_estimators=40, learning_rate=0.1, num_leaves=7, min_child_samples=10)
    est = LightGbmRul(average_caps=(40.0, 80.0), n_splits=3, trees=fast, n_bags=1, fold_seed=3)
    out = evaluate(est, path, [120.0, 130.0], dump=tmp_path, name="avg")  # the grid is ignored
    frame = check_history(read_cmapss(path), est.schema)  # what evaluate reads
    rul = est._true_rul(frame)
    w = cut_weights(rul, frame["unit"].to_numpy(), est.horizon, "unit")
    oof = est.out_of_fold(frame, [40.0, 80.0])
    averaged = np.mean([oof[40.0], oof[80.0]], axis=0)
    expected = round(float(np.sqrt(np.average((averaged - rul) ** 2, weights=w))), 3)
    assert out["cap"] == "mean of 40/80" and out["rmse"] == expected
    scores = out["scores"]
    assert isinstance(scores, dict) and set(scores) == {"40.0", "80.0", "mean of 40/80"}
    assert expected not in (scores["40.0"], scores["80.0"])  # neither single cap's score
    cover = cv_coverage(est, averaged, rul, w, est.folds(frame["unit"].to_numpy()))
    assert out["cv_coverage"] == round(cover, 3)
    dumped = np.load(tmp_path / "avg_train_SYN.npz")
    np.testing.assert_allclose(dumped["oof"], [oof[40.0], oof[80.0]])
    np.testing.assert_allclose(dumped["average_caps"], [40.0, 80.0])


def test_a_variant_with_a_cap_grid_is_scored_at_its_best_cap(tmp_path: Path) -> None:
    train, _ = make_fleet(15, seed=5)
    path = tmp_path / "train_SYN.txt"
    cols = train.to_numpy(dtype=float)
    np.savetxt(path, np.column_stack([cols, np.full((len(cols), 26 - cols.shape[1]), 7.0)]), fmt="%.6f")
    fast = TreeParams(n_estimators=40, learning_rate=0.1, num_leaves=7, min_child_samples=10)
    est = LightGbmRul(average_caps=(), baseline_stat="mean", n_splits=3, trees=fast, n_bags=1)
    out = evaluate(est, path, [40.0, 80.0])
    scores = out["scores"]
    assert isinstance(scores, dict) and set(scores) == {"40.0", "80.0"}
    assert out["cap"] in (40.0, 80.0) and out["rmse"] == min(scores.values())
