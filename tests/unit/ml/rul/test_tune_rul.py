"""The split-seed aggregation and the round-4 adoption rule of bench/tune_rul.py (no model is fitted)."""

import pytest
from bench.tune_rul import adoptable, aggregate_splits, compare_splits


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
