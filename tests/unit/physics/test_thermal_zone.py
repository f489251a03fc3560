from __future__ import annotations

import doctest
import math

import pytest

import tvilling.physics.thermal_zone
from tests.unit.physics.conformance import check_physics_model
from tvilling.core.errors import SimulationError, ValidationError
from tvilling.physics.thermal_zone import ThermalZone


def test_conformance() -> None:
    check_physics_model(ThermalZone, {"Q_hvac": -2000.0, "T_out": 5.0})


def test_doctests() -> None:
    result = doctest.testmod(tvilling.physics.thermal_zone)
    assert result.attempted >= 2 and result.failed == 0


def test_matches_the_analytic_solution_whatever_the_step() -> None:
    c, ua, q, t_out, t0 = 4.0e6, 650.0, -3000.0, 30.0, 24.0
    expected = (t_out + q / ua) + (t0 - (t_out + q / ua)) * math.exp(-ua * 7200.0 / c)
    for dt, steps in ((7200.0, 1), (60.0, 120), (1.0, 7200)):
        zone = ThermalZone()
        zone.initialize({"C": c, "UA": ua, "T_start": t0, "Q_hvac": q, "T_out": t_out})
        for _ in range(steps):
            out = zone.step(dt)
        assert out["T"] == pytest.approx(expected, abs=1e-9)
        assert out["Q_loss"] == pytest.approx(ua * (expected - t_out), abs=1e-6)


def test_bad_parameters_are_refused_with_the_reason() -> None:
    zone = ThermalZone()
    with pytest.raises(SimulationError, match="C must be > 0"):
        zone.initialize({"C": 0})
    with pytest.raises(ValidationError) as err:
        zone.initialize({"T": 3, "UAx": 1})
    assert len(err.value.problems) == 2
    assert "did you mean UA" in err.value.problems[1].hint
    assert "output" in err.value.problems[0].message
