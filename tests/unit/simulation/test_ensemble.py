from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import tvilling.simulation.ensemble
from tvilling.core.errors import ValidationError
from tvilling.physics.thermal_zone import ThermalZone
from tvilling.simulation.cosim import Span
from tvilling.simulation.ensemble import parse_distribution, run_ensemble

DAY = Span(0.0, 86400.0, 3600.0)
COOLING = {"Q_hvac": -2000.0, "T_out": 5.0}


def test_doctests() -> None:
    result = doctest.testmod(tvilling.simulation.ensemble)
    assert result.attempted >= 3 and result.failed == 0


def test_the_same_seed_gives_the_same_answer_and_another_seed_another() -> None:
    spread = {"UA": parse_distribution("UA", "normal:500:50")}
    a = run_ensemble(ThermalZone(), DAY, spread, samples=40, values=COOLING, seed=7)
    b = run_ensemble(ThermalZone(), DAY, spread, samples=40, values=COOLING, seed=7)
    c = run_ensemble(ThermalZone(), DAY, spread, samples=40, values=COOLING, seed=8)
    assert a.as_dict() == b.as_dict() and a.drawn != c.drawn


def test_bands_are_ordered_and_match_the_analytic_spread() -> None:
    # At the end of a day the zone sits at T_out + Q/UA (the time constant is under 3 h), a monotone function of
    # UA, so the final value's percentiles are that function of UA's percentiles.
    spread = {"UA": parse_distribution("UA", "uniform:400:600")}
    out = run_ensemble(ThermalZone(), DAY, spread, samples=400, values=COOLING)
    t = out.bands["T"]
    for k in range(len(out.times)):
        assert t["p5"][k] <= t["p25"][k] <= t["p50"][k] <= t["p75"][k] <= t["p95"][k]
    for p in (5, 50, 95):
        ua = 400.0 + 200.0 * p / 100.0
        assert out.final["T"][f"p{p}"] == pytest.approx(5.0 - 2000.0 / ua, abs=0.03)
    assert out.bands["T"]["p50"][0] == 21.0 and out.units == {"T": "degC", "Q_loss": "W"}
    assert sorted(out.drawn["UA"])[0] >= 400.0 and sorted(out.drawn["UA"])[-1] <= 600.0


def test_exceedance_counts_any_crossing_during_the_run() -> None:
    spread = {"Q_hvac": parse_distribution("Q_hvac", "uniform:0:4000")}
    # Heating Q into a 21 degC zone with T_out 21: T ends at 21 + Q/500; above 25 when Q > 2000 (half the range).
    out = run_ensemble(ThermalZone(), DAY, spread, samples=200, values={"T_out": 21.0},
                       record=["Q_loss"], limits={"T": ("above", 25.0)})
    assert set(out.bands) == {"Q_loss", "T"}  # the limit's output is recorded although not asked for
    assert out.exceedance["T"] == pytest.approx(0.5, abs=0.03)


def test_samples_the_model_refuses_are_counted() -> None:
    spread = {"C": parse_distribution("C", "uniform:-1e6:4e6")}  # a fifth of the draws have C <= 0
    out = run_ensemble(ThermalZone(), DAY, spread, samples=100, values=COOLING)
    assert out.failed == pytest.approx(20, abs=2) and out.samples == 100 - out.failed
    with pytest.raises(ValidationError, match="refused all 10 samples"):
        run_ensemble(ThermalZone(), DAY, {"C": parse_distribution("C", "uniform:-2:-1")}, samples=10)


@pytest.mark.parametrize(("spec", "match"), [
    ("normal:500", "normal takes 2 numbers"),
    ("gauss:1:2", "unknown distribution 'gauss'"),
    ("normal:500:0", "sd must be > 0"),
    ("uniform:5:1", "high must be greater than low"),
    ("triangular:1:5:3", "low <= mode <= high"),
    ("lognormal:0:1", "must be > 0"),
    ("normal:a:1", "must be numbers"),
    ({"dist": "normal", "mean": 1}, "needs exactly mean, sd"),
    ({"dist": "normal", "mean": 1, "sd": math.inf}, "finite"),
])
def test_bad_spreads_are_named(spec: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match) as err:
        parse_distribution("UA", spec)  # type: ignore[arg-type]
    assert err.value.where == "UA" and "normal:mean:sd" in err.value.hint


def test_bad_requests() -> None:
    ua = {"UA": parse_distribution("UA", "normal:500:50")}
    with pytest.raises(ValidationError, match="between 2 and 1000"):
        run_ensemble(ThermalZone(), DAY, ua, samples=1)
    with pytest.raises(ValidationError, match="seed must be >= 0"):
        run_ensemble(ThermalZone(), DAY, ua, samples=10, seed=-1)
    with pytest.raises(ValidationError, match="nothing varies"):
        run_ensemble(ThermalZone(), DAY, {}, samples=10)
    with pytest.raises(ValidationError, match="'T' is an output"):
        run_ensemble(ThermalZone(), DAY, {"T": parse_distribution("T", "normal:1:1")}, samples=10)
    with pytest.raises(ValidationError, match="Tx"):
        run_ensemble(ThermalZone(), DAY, ua, samples=10, limits={"Tx": ("above", 1.0)})
    with pytest.raises(ValidationError, match="above or below"):
        run_ensemble(ThermalZone(), DAY, ua, samples=10, limits={"T": ("over", 1.0)})


def test_latin_hypercube_covers_every_stratum() -> None:
    out = run_ensemble(ThermalZone(), Span(0.0, 60.0, 60.0), {"UA": parse_distribution("UA", "uniform:0:100")},
                       samples=20)
    strata = np.floor(np.array(out.drawn["UA"]) / 5.0)
    assert sorted(strata.tolist()) == list(range(20))
