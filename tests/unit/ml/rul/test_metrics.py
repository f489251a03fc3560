import math

import pytest

from tvilling.core.errors import ValidationError
from tvilling.ml.ports import RulEstimate
from tvilling.ml.rul import interval_coverage, phm08_score, rmse


def test_rmse_hand_computed() -> None:
    assert rmse([3.0, 0.0, 4.0], [0.0, 0.0, 0.0]) == pytest.approx(math.sqrt(25.0 / 3.0))
    assert rmse([5.0], [5.0]) == 0.0


def test_phm08_penalises_late_more_than_early() -> None:
    # d = +10 → e^1 − 1; d = −13 → e^1 − 1; d = 0 → 0
    assert phm08_score([20.0, 7.0, 9.0], [10.0, 20.0, 9.0]) == pytest.approx(2 * (math.e - 1.0))
    # same |d| = 20: late costs e^2 − 1 ≈ 6.39, early costs e^(20/13) − 1 ≈ 3.66
    late, early = phm08_score([40.0], [20.0]), phm08_score([0.0], [20.0])
    assert late == pytest.approx(math.exp(2.0) - 1.0)
    assert early == pytest.approx(math.exp(20.0 / 13.0) - 1.0)
    assert late > early


def test_coverage_counts_bounds_inclusive() -> None:
    assert interval_coverage([0, 5, 10], [10, 6, 11], [10, 7, 10.5]) == pytest.approx(2 / 3)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValidationError):
        rmse([1.0, 2.0], [1.0])
    with pytest.raises(ValidationError):
        phm08_score([], [])


def test_prob_failure_within_reads_the_quantiles() -> None:
    e = RulEstimate(unit=1, at=10.0, mean=20.0, lower=10.0, upper=30.0, level=0.8,
                    quantiles=(10.0, 15.0, 20.0, 30.0))
    assert e.prob_failure_within(5.0) == 0.0
    assert e.prob_failure_within(15.0) == 0.5
    assert e.prob_failure_within(100.0) == 1.0
    point = RulEstimate(unit=1, at=10.0, mean=20.0, lower=20.0, upper=20.0, level=0.8)
    assert point.prob_failure_within(19.0) == 0.0 and point.prob_failure_within(20.0) == 1.0
