"""Failure curves: what a plan's risk is made of."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from tvilling.core.errors import ValidationError
from tvilling.optimize.failure import (
    LogNormalCurve,
    NoFailure,
    QuantileCurve,
    WeibullCurve,
    curve_from_dict,
)

GRID = [0.0, 0.5, 1.0, 10.0, 50.0, 99.9, 100.0, 150.0, 400.0, 1e4, 1e6]


@pytest.mark.parametrize("curve", [
    NoFailure(), QuantileCurve((10.0, 20.0, 40.0, 80.0)), QuantileCurve((5.0, 5.0, 100.0), censored_at=100.0),
    LogNormalCurve(50.0, 200.0, 0.8), LogNormalCurve(0.0, 30.0, 0.9), WeibullCurve(2.0, 500.0, 300.0),
    WeibullCurve(0.7, 1000.0)])
def test_every_curve_is_a_cdf(curve: object) -> None:
    values = [curve.cdf(h) for h in GRID]  # type: ignore[attr-defined]
    assert values[0] == 0.0
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)
    assert curve_from_dict(curve.as_dict()) == curve  # type: ignore[attr-defined]


def test_lognormal_goes_through_the_interval_ends() -> None:
    curve = LogNormalCurve(100.0, 900.0, 0.8)
    assert curve.cdf(100.0) == pytest.approx(0.1, abs=1e-9)
    assert curve.cdf(900.0) == pytest.approx(0.9, abs=1e-9)
    assert curve.cdf(300.0) == pytest.approx(0.5, abs=1e-9)  # the geometric mean is the median


def test_weibull_is_conditional_on_the_age_survived() -> None:
    curve = WeibullCurve(2.5, 1000.0, age_hours=600.0)
    dist = stats.weibull_min(2.5, scale=1000.0)
    for t in (10.0, 200.0, 800.0):
        expected = (dist.cdf(600.0 + t) - dist.cdf(600.0)) / dist.sf(600.0)
        assert curve.cdf(t) == pytest.approx(expected, rel=1e-9)
    # An old wearing-out asset is riskier over the same hours than a new one.
    assert curve.cdf(100.0) > WeibullCurve(2.5, 1000.0).cdf(100.0)


def test_quantile_curve_interpolates_and_ends_at_one() -> None:
    curve = QuantileCurve((10.0, 30.0))  # probabilities 0.25 and 0.75
    assert curve.cdf(5.0) == pytest.approx(0.125)  # the first segment's slope, 0.025/h, down to 0 at 0 h here
    late = QuantileCurve((100.0, 110.0))  # ... not a spread from time 0: nothing before 95 h
    assert late.cdf(90.0) == 0.0 and late.cdf(97.5) == pytest.approx(0.125)
    assert curve.cdf(20.0) == pytest.approx(0.5)
    assert curve.cdf(30.0) == pytest.approx(0.75)
    assert curve.cdf(40.0) == pytest.approx(1.0)  # last segment's slope: 0.025/h
    assert curve.cdf(35.0) == pytest.approx(0.875)


def test_censored_quantiles_are_not_failures() -> None:
    # Half the draws are at the estimator's horizon: "not within what it can see", not "fails at 100 h".
    curve = QuantileCurve((20.0, 40.0, 100.0, 100.0), censored_at=100.0)
    assert curve.cdf(40.0) == pytest.approx(0.375)
    assert curve.cdf(10.0) == pytest.approx(0.0)
    assert curve.cdf(100.0) == curve.cdf(1e5) == pytest.approx(0.375)


@pytest.mark.parametrize("spec,where", [
    ({}, "failure"), ({"rul_hours": {"lower": 5}}, "failure.rul_hours"),
    ({"rul_hours": {"lower": 50, "upper": 10}}, "failure.rul_hours"),
    ({"rul_hours": {"lower": 5, "upper": 10, "level": 1.5}}, "failure.rul_hours.level"),
    ({"weibull": {"shape": -1, "scale_hours": 10}}, "failure.weibull"),
    ({"quantiles_hours": "soon"}, "failure.quantiles_hours"), ({"quantiles_hours": [1, math.nan]},
                                                               "failure.quantiles_hours"),
    ({"weibull": {"shape": 1, "scale_hours": 5}, "rul_hours": {"lower": 1, "upper": 2}}, "failure"),
    ({"later": True}, "failure")])
def test_bad_curves_say_where(spec: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        curve_from_dict(spec)
    assert info.value.where == where
    assert info.value.hint
