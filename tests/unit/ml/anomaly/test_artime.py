"""ARTime (``ARTimeDetector``) and its ART memory: the contract, hand-computed pieces, and the NAB setup."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import pytest

from tests.unit.ml.anomaly.conformance import check_detector
from tests.unit.ml.anomaly.nab_cli import run_bench_nab
from tvilling.cli.bench_nab import DETECTORS
from tvilling.ml.anomaly import artime
from tvilling.ml.anomaly.artime import ARTimeDetector, initial_vigilance, nab_artime_scores, nab_probation


def test_conforms_with_a_given_range() -> None:
    check_detector(lambda: ARTimeDetector(min_value=-1.5, max_value=1.5, probation=100))


def test_conforms_with_a_given_range_and_down_sampling() -> None:
    # probation 300 -> step 2: every other value is scored (the probe lands on a scored step)
    check_detector(lambda: ARTimeDetector(min_value=-1.5, max_value=1.5, probation=300), n_train=399)


def test_conforms_with_a_learned_range() -> None:
    check_detector(lambda: ARTimeDetector(probation=100))


def test_docstring_examples() -> None:
    result = doctest.testmod(artime)
    assert result.attempted > 0 and result.failed == 0


def test_published_defaults() -> None:
    det = ARTimeDetector(min_value=0.0, max_value=1.0)
    assert (det.window, det.windows_per_probation, det.chomp, det.levels, det.initial_rho, det.probation) == (
        8, 13, 0.075, 80, 0.80, 750)


def test_initial_vigilance_is_a_mean_similarity() -> None:
    rng = np.random.default_rng(0)
    feats = rng.uniform(size=(40, 6))
    rho = initial_vigilance(feats, 0.8, 10)
    assert 0.0 < rho < 1.0
    assert initial_vigilance(np.tile(feats[:1], (40, 1)), 0.8, 10) == pytest.approx(1.0)  # all alike


def test_a_learned_rhythm_is_quiet_and_a_jump_scores() -> None:
    det = ARTimeDetector(min_value=-1.0, max_value=3.0, probation=300)
    calm = det.score_learn_many([math.sin(i / 5.0) for i in range(1500)])
    assert calm.max() == 0.0
    jump = det.score_learn_many([3.0] * 4)
    assert jump.max() > 0.5
    assert (jump > 0).sum() == 1  # one report, then masked


def test_learned_range_scores_zero_during_probation() -> None:
    det = ARTimeDetector(probation=120)
    scores = det.score_learn_many([math.sin(i / 4.0) + 0.01 * i for i in range(600)])
    assert scores[:120].max() == 0.0 and np.isfinite(scores).all()
    assert det.min_value is None  # the learned range is internal; the parameters stay as given
    front = det._front
    assert front is not None  # range of the first 120 values (min -1, max ~2.19), widened by 25 % each side
    first = [math.sin(i / 4.0) + 0.01 * i for i in range(120)]
    span = max(first) - min(first)
    assert front.lo == pytest.approx(min(first) - 0.25 * span)
    assert front.span == pytest.approx(1.5 * span)


def test_constant_and_non_finite_values_do_not_break_it() -> None:
    det = ARTimeDetector(min_value=1.0, max_value=1.0, probation=100)
    scores = det.score_learn_many([1.0] * 150 + [float("nan")] + [1.0] * 50)
    assert np.isfinite(scores).all() and scores.max() == 0.0
    assert det.score_one({"v": float("nan")}) == 0.0


@pytest.mark.parametrize("kwargs", [{"min_value": 0.0}, {"min_value": 2.0, "max_value": 1.0},
                                    {"probation": 10}, {"window": 1}, {"initial_rho": 0.0},
                                    {"range_margin": -0.1}])
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ARTimeDetector(**kwargs)  # type: ignore[arg-type]


def test_nab_setup_is_what_artimes_nab_entry_passes() -> None:
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(size=1500))
    assert nab_probation(1500) == 225 and nab_probation(6000) == 750
    # probationary length 225 (224 once made even) -> step 2, 112 buffered vectors; range = the file's min/max
    ref = ARTimeDetector(min_value=float(v.min()), max_value=float(v.max()), probation=225)
    np.testing.assert_array_equal(nab_artime_scores(v), ref.score_learn_many(v))
    causal = ARTimeDetector(probation=225)
    np.testing.assert_array_equal(nab_artime_scores(v, causal=True), causal.score_learn_many(v))
    assert nab_artime_scores(v)[1::2].any() and not nab_artime_scores(v)[0::2].any()  # only step ends score


def test_registered_in_the_nab_harness() -> None:
    assert {"artime", "artime_causal"} <= set(DETECTORS)


def test_bench_nab_cli_runs_artime(tmp_path: Path) -> None:
    summary, df = run_bench_nab(tmp_path, "artime")
    assert summary["detected_windows"] >= 1
    assert df["anomaly_score"].between(0, 1).all()


def test_a_bounded_memory_changes_nothing_until_it_is_full() -> None:
    """A stream that keeps moving to new regimes: capped and uncapped agree value for value until the cap is
    reached; after that the capped memory stays at its bound and still reports regime changes."""
    rng = np.random.default_rng(3)
    t = np.arange(3000)
    v = np.concatenate([lvl + 0.1 * np.sin(2 * np.pi * t / per) + 0.02 * rng.normal(size=t.size)
                        for lvl, per in zip(rng.uniform(0, 1, 8), rng.uniform(5, 80, 8), strict=True)])
    free, capped = ARTimeDetector(probation=300), ARTimeDetector(probation=300, max_categories=400)
    a = free.score_learn_many(v)
    counts, b = [], []
    for x in v.tolist():
        b.append(capped.score_learn_one({"v": x}))
        counts.append(capped.categories)
    full = counts.index(400)
    assert free.categories > 1000 and max(counts) == 400 and full > 3000  # outgrown in the 2nd regime
    np.testing.assert_array_equal(a[: full + 1], np.array(b)[: full + 1])
    assert (a[: full + 1] > 0.175).sum() >= 1  # the identical stretch holds reports, not only zeros
    assert (np.array(b)[full + 1:] > 0.175).sum() >= 1
