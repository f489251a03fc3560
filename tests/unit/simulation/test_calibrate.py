from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import tvilling.simulation.calibrate
from tvilling.core.errors import ValidationError
from tvilling.physics.thermal_zone import ThermalZone
from tvilling.simulation.calibrate import Measurements, calibrate, run


def measured_zone(*, ua: float = 420.0, c: float = 6.0e6, noise: float = 0.1, hours: int = 72,
                  seed: int = 1) -> Measurements:
    """A zone with known UA and C driven by a daily outdoor swing and an on/off HVAC, sampled every 5 min."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours * 12) * 300.0
    t_out = 8.0 + 6.0 * np.sin(2 * np.pi * t / 86400.0)
    q = np.where(t % 86400.0 < 8 * 3600.0, 3000.0, -1500.0)
    truth = Measurements.from_columns(t.tolist(), inputs={"Q_hvac": q.tolist(), "T_out": t_out.tolist()},
                                      outputs={"T": [0.0] * len(t)})
    clean = run(ThermalZone(), truth, {"UA": ua, "C": c, "T_start": 19.0})["T"]
    return Measurements.from_columns(t.tolist(), inputs=truth.inputs,
                                     outputs={"T": (clean + rng.normal(0.0, noise, len(t))).tolist()})


def test_doctests() -> None:
    result = doctest.testmod(tvilling.simulation.calibrate)
    assert result.attempted >= 6 and result.failed == 0


def test_recovers_known_parameters_from_noisy_data() -> None:
    fit = calibrate(ThermalZone(), measured_zone(), {"UA": (100.0, 2000.0), "C": (1e6, 1e8), "T_start": (10.0, 30.0)})
    assert fit.converged
    assert fit.values["UA"] == pytest.approx(420.0, rel=0.01) and fit.values["C"] == pytest.approx(6e6, rel=0.01)
    assert fit.rmse_before["T"] > 0.5 and fit.rmse_after["T"] == pytest.approx(0.1, abs=0.01)  # down to the noise
    low, high = fit.intervals["UA"] or (math.nan, math.nan)
    assert low < 420.0 < high and high - low < 10.0
    assert fit.units == {"UA": "W/K", "C": "J/K", "T_start": "degC", "T": "degC"} and fit.at_bound == []


def test_a_parameter_the_data_cannot_see_is_reported_and_bounds_hold() -> None:
    # No heating and outdoor = zone temperature all along: UA and C leave no trace in the data.
    t = [600.0 * k for k in range(50)]
    data = Measurements.from_columns(t, inputs={"T_out": [21.0] * 50, "Q_hvac": [0.0] * 50},
                                     outputs={"T": [21.0] * 50})
    fit = calibrate(ThermalZone(), data, {"UA": (100.0, 2000.0)})
    assert 100.0 <= fit.values["UA"] <= 2000.0 and fit.rmse_after["T"] < 1e-9
    # A bound that excludes the truth: the fit stops at it and says so.
    tight = calibrate(ThermalZone(), measured_zone(), {"UA": (100.0, 300.0)}, values={"T_start": 19.0, "C": 6e6})
    assert tight.values["UA"] == pytest.approx(300.0) and tight.at_bound == ["UA"]


def test_missing_measured_values_are_skipped() -> None:
    data = measured_zone(noise=0.0)
    holes = [math.nan if k % 7 == 0 else v for k, v in enumerate(data.outputs["T"])]
    gappy = Measurements.from_columns(data.times, inputs=data.inputs, outputs={"T": holes})
    fit = calibrate(ThermalZone(), gappy, {"UA": (100.0, 2000.0)}, values={"C": 6e6, "T_start": 19.0})
    assert fit.values["UA"] == pytest.approx(420.0, rel=1e-4)


@pytest.mark.parametrize(("fit", "match"), [
    ({}, "nothing to fit"),
    ({"Q_hvac": (0.0, 1.0)}, "'Q_hvac' is an input"),
    ({"UAx": (0.0, 1.0)}, "UAx"),
    ({"UA": (5.0, 1.0)}, "low < high"),
    ({"UA": (0.0, math.inf)}, "finite"),
])
def test_bad_requests(fit: dict[str, tuple[float, float]], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        calibrate(ThermalZone(), measured_zone(hours=2), fit)


def test_bad_measurements_list_every_problem() -> None:
    with pytest.raises(ValidationError) as err:
        Measurements.from_columns([0.0, 2.0, 1.0], inputs={"T_out": [1.0, math.nan, 1.0]}, outputs={"T": [1.0]})
    text = " | ".join(p.message for p in err.value.problems)
    assert "times must be finite and increase" in text and "missing values" in text and "1 values for 3" in text
    with pytest.raises(ValidationError, match="too few"):
        Measurements.from_columns([0.0, 1.0], inputs={}, outputs={"T": [1.0, 2.0]})
    with pytest.raises(ValidationError, match="no measured output"):
        Measurements.from_columns([0.0, 1.0, 2.0], inputs={}, outputs={})
