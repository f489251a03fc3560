"""ExponentialTrend: exponential degradation extrapolated to a failure threshold, with an interval."""

from __future__ import annotations

import math
import random

import pytest

from tvilling.core.errors import ValidationError
from tvilling.ml.trend import ExponentialTrend, excess_over


def _feed(tr: ExponentialTrend, rate_per_h: float, hours: int, noise: float = 0.0, seed: int = 1,
          start: float = 0.5) -> None:
    rng = random.Random(seed)
    for i in range(hours + 1):
        tr.update(i * 3600.0, start * math.exp(rate_per_h * i + rng.gauss(0.0, noise)))


def test_noiseless_exponential_reaches_threshold_when_expected() -> None:
    tr = ExponentialTrend(threshold=8.0, window_h=48.0)
    _feed(tr, 0.02, 48)
    est = tr.estimate(unit="b1")
    assert est is not None and est.unit == "b1"
    expected = (math.log(8.0 / 0.5) / 0.02) - 48  # hours from the last point
    assert est.mean == pytest.approx(expected, rel=1e-6)
    assert est.lower < est.mean < est.upper
    assert list(est.quantiles) == sorted(est.quantiles)


def test_probability_of_failure_rises_as_the_indicator_approaches_the_threshold() -> None:
    probs = []
    for hours in (24, 48, 72, 96, 120):
        tr = ExponentialTrend(threshold=8.0, window_h=48.0)
        _feed(tr, 0.02, hours, noise=0.05)
        est = tr.estimate()
        assert est is not None
        probs.append(est.prob_failure_within(72.0))
    assert probs == sorted(probs)
    assert probs[0] < 0.1 and probs[-1] > 0.9


def test_flat_or_noisy_indicator_gives_no_estimate() -> None:
    tr = ExponentialTrend(threshold=8.0)
    _feed(tr, 0.0, 48, noise=0.1)
    assert tr.estimate() is None
    tr = ExponentialTrend(threshold=8.0)
    _feed(tr, -0.01, 48)
    assert tr.estimate() is None


def test_too_few_points_late_points_and_reset() -> None:
    tr = ExponentialTrend(threshold=8.0, min_points=12)
    _feed(tr, 0.05, 5)
    assert len(tr) == 6 and tr.estimate() is None
    tr.update(0.0, 100.0)  # older than the last point: ignored
    tr.update(10 * 3600.0, 0.0)  # non-positive health: ignored
    assert len(tr) == 6
    tr.reset()
    assert len(tr) == 0 and tr.last_health is None


def test_window_drops_old_points() -> None:
    tr = ExponentialTrend(threshold=8.0, window_h=10.0)
    _feed(tr, 0.01, 48)
    assert len(tr) == 11


def test_invalid_parameters() -> None:
    with pytest.raises(ValidationError):
        ExponentialTrend(threshold=0.0)
    with pytest.raises(ValidationError):
        ExponentialTrend(threshold=1.0, min_points=2)


def test_excess_over_baseline() -> None:
    assert excess_over(5.0, 3.0) == pytest.approx(4.0)
    assert excess_over(1.0, 3.0) == 0.0


def test_doctests() -> None:
    import doctest

    from tvilling.ml import trend

    assert doctest.testmod(trend).failed == 0
