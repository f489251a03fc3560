"""CAD OSE (``ContextOSEDetector``): the contract, hand-computed first steps, and its published behaviour."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.unit.ml.anomaly.conformance import check_detector
from tests.unit.ml.anomaly.nab_cli import run_bench_nab
from tvilling.cli.bench_nab import DETECTORS
from tvilling.ml.anomaly.context_ose import ContextOSEDetector, nab_context_ose_scores


def test_conforms_with_a_given_range() -> None:
    check_detector(lambda: ContextOSEDetector(min_value=-1.5, max_value=1.5, rest_period=20), n_train=250)


def test_conforms_with_a_learned_range() -> None:
    check_detector(lambda: ContextOSEDetector(probation=100, rest_period=20))


def test_published_defaults() -> None:
    det = ContextOSEDetector()
    assert (det.base_threshold, det.max_left_semicontexts, det.max_active_neurons, det.value_bits) == (
        0.75, 7, 15, 3)


def test_first_steps_by_hand() -> None:
    # rest_period 1: only the previous raw score gates. Step 1 has nothing to compare with: raw 0.5, gated by
    # the initial 1.0. Step 2 (level 7 after level 0): nothing predicted, nothing selected, the one zero-level
    # context is new -> (1 - 0 + 1/1) / 2 = 1.0, reported. Step 3 is gated by that 1.0.
    det = ContextOSEDetector(min_value=0.0, max_value=7.0, rest_period=1)
    assert det.score_learn_many([0.0, 7.0, 0.0]).tolist() == [0.0, 1.0, 0.0]


def test_a_learned_rhythm_stops_scoring_and_a_break_scores_high() -> None:
    det = ContextOSEDetector(min_value=0.0, max_value=7.0, rest_period=5)
    pattern = [0.0, 3.0, 7.0, 5.0, 1.0]
    scores = det.score_learn_many(pattern * 60)
    assert scores[-100:].max() == 0.0  # every value is predicted
    assert det.score_one({"v": 6.0}) > 0.75  # a level never seen after this context


def test_rest_period_mutes_the_points_after_a_high_score() -> None:
    det = ContextOSEDetector(min_value=0.0, max_value=7.0, rest_period=10)
    det.learn_many([0.0, 3.0, 7.0, 5.0, 1.0] * 60)
    first = det.score_learn_one({"v": 6.0})
    after = det.score_learn_many([2.0, 6.0, 4.0, 6.0, 2.0])
    assert first > 0.75
    assert after.max() == 0.0


def test_learned_range_scores_zero_during_probation_and_flags_values_beyond_it() -> None:
    det = ContextOSEDetector(probation=50, rest_period=5)
    calm = [math.sin(i / 4.0) for i in range(400)]
    scores = det.score_learn_many(calm)
    assert scores[:50].max() == 0.0
    assert det.min_value is None  # the learned range is internal; the parameters stay as given
    assert det.score_one({"v": 100.0}) > scores[-50:].max()
    assert det.score_one({"v": -100.0}) > 0.0  # the "below" fact was never predicted


def test_constant_and_non_finite_values_do_not_break_it() -> None:
    det = ContextOSEDetector(min_value=1.0, max_value=1.0, rest_period=3)
    scores = det.score_learn_many([1.0] * 50 + [float("nan")] + [1.0] * 10)
    assert np.isfinite(scores).all() and scores[-10:].max() == 0.0
    assert det.score_one({"v": float("nan")}) == 0.0


@pytest.mark.parametrize("kwargs", [{"min_value": 0.0}, {"min_value": 2.0, "max_value": 1.0},
                                    {"rest_period": 0}, {"value_bits": 0}])
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ContextOSEDetector(**kwargs)  # type: ignore[arg-type]


def test_nab_setup_is_what_nabs_runner_passes() -> None:
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(size=1000))
    # probationary length min(floor(0.15 * 1000), 750) = 150 -> rest period 30; range = the file's min/max
    ref = ContextOSEDetector(min_value=float(v.min()), max_value=float(v.max()), rest_period=30)
    np.testing.assert_array_equal(nab_context_ose_scores(v), ref.score_learn_many(v))
    causal = ContextOSEDetector(probation=150, rest_period=30)
    np.testing.assert_array_equal(nab_context_ose_scores(v, causal=True), causal.score_learn_many(v))


def test_registered_in_the_nab_harness() -> None:
    assert {"context_ose", "context_ose_causal"} <= set(DETECTORS)


def test_bench_nab_cli_runs_context_ose(tmp_path: Path) -> None:
    summary, df = run_bench_nab(tmp_path, "context_ose")
    assert summary["detected_windows"] >= 1  # the spike and the step leave every level seen before
    assert df["anomaly_score"].between(0, 1).all()
