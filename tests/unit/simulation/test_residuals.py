"""Residual analysis: the asset against its physics model, healthy and with a fault the model does not contain."""

import math

import numpy as np
import pytest

from tests.unit.simulation.test_calibrate import measured_zone
from tvilling.core.errors import ValidationError
from tvilling.physics.thermal_zone import ThermalZone
from tvilling.simulation.calibrate import Measurements
from tvilling.simulation.residuals import Charts, analyse_residuals, chart_ratio

HEALTHY = {"UA": 420.0, "C": 6.0e6, "T_start": 19.0}


def zone_with_fault(*, hours: int, fault_at_h: float, fault_ua: float, seed: int = 1) -> Measurements:
    """``measured_zone``'s zone whose envelope conductance becomes ``fault_ua`` from ``fault_at_h`` on (a door left
    open); 0.1 K of measurement noise."""
    healthy = measured_zone(hours=hours, seed=seed, noise=0.0)
    zone = ThermalZone()
    zone.initialize({**HEALTHY, "T_out": healthy.inputs["T_out"][0], "Q_hvac": healthy.inputs["Q_hvac"][0]})
    temps = [zone.outputs()["T"]]
    for k in range(1, len(healthy.times)):
        now = healthy.times[k - 1]
        u = {"T_out": healthy.inputs["T_out"][k - 1], "Q_hvac": healthy.inputs["Q_hvac"][k - 1]}
        if now == fault_at_h * 3600.0:
            zone.initialize({**HEALTHY, "UA": fault_ua, "T_start": temps[-1], **u}, start_time=now)
        temps.append(zone.step(300.0, u)["T"])
    noise = np.random.default_rng(seed + 100).normal(0.0, 0.1, len(temps))
    return Measurements.from_columns(healthy.times, inputs=healthy.inputs, outputs={"T": list(np.add(temps, noise))})


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_healthy_asset_raises_no_episode(seed: int) -> None:
    report = analyse_residuals(ThermalZone(), measured_zone(hours=96, seed=seed), HEALTHY, reference_rows=288)
    assert report.episodes() == [] and not report.anomalous.any()
    stats = report.stats()["T"]
    assert stats["rmseAfter"] == pytest.approx(0.1, abs=0.02) and abs(stats["biasAfter"] or 1) < 0.03


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fault_the_model_lacks_is_found_within_hours_and_named(seed: int) -> None:
    data = zone_with_fault(hours=96, fault_at_h=60, fault_ua=600.0, seed=seed)
    report = analyse_residuals(ThermalZone(), data, HEALTHY, reference_rows=288)
    episodes = report.episodes()
    assert episodes and episodes[0]["outputs"] == ["T"] and all(e["afterReference"] for e in episodes)
    first = episodes[0]["start"] / 3600.0
    assert 60.0 <= first <= 63.0  # never before the fault, within three hours of it
    assert not report.anomalous[: 60 * 12].any()
    assert report.stats()["T"]["rmseAfter"] > 2 * report.stats()["T"]["rmseReference"]


def test_raw_readings_within_their_normal_range_still_show_the_fault() -> None:
    # Why residuals: after the fault the zone's temperature stays inside the range it had while healthy (the
    # weather and the HVAC move it more than the fault does), so a limit on the raw value cannot see it.
    data = zone_with_fault(hours=96, fault_at_h=60, fault_ua=600.0)
    temps = np.asarray(data.outputs["T"])
    healthy = temps[: 60 * 12]
    assert healthy.min() < temps[60 * 12:].min() and temps[60 * 12:].max() < healthy.max()
    assert analyse_residuals(ThermalZone(), data, HEALTHY, reference_rows=288).episodes()


def test_missing_measurements_stay_missing_and_are_not_scored() -> None:
    data = measured_zone(hours=48)
    values = list(data.outputs["T"])
    for k in (3, 300, 301, 400):
        values[k] = math.nan
    holed = Measurements.from_columns(data.times, inputs=data.inputs, outputs={"T": values})
    report = analyse_residuals(ThermalZone(), holed, HEALTHY)
    assert report.reference_rows == len(values) // 5
    out = report.as_dict()
    assert out["residual"]["T"][300] is None and out["measured"]["T"][3] is None
    assert not report.anomalous[[3, 300, 301, 400]].any()
    assert out["units"] == {"T": "degC"} and out["episodes"] == []


def test_a_wrong_model_is_not_a_fault_of_the_asset_until_it_changes() -> None:
    # A model that is off by a constant (a miscalibrated sensor, a parameter slightly wrong) leaves a residual
    # bias: the reference absorbs it, so only a *change* from the reference is anomalous.
    data = measured_zone(hours=72)
    shifted = Measurements.from_columns(data.times, inputs=data.inputs,
                                        outputs={"T": [v + 0.8 for v in data.outputs["T"]]})
    report = analyse_residuals(ThermalZone(), shifted, HEALTHY, reference_rows=288)
    assert report.stats()["T"]["biasReference"] == pytest.approx(0.8, abs=0.03) and not report.anomalous.any()


def test_charts_count_a_lasting_small_shift_and_a_single_large_error() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.0, 1.0, 2000)
    shift = r.copy()
    shift[1500:] += 1.5  # 1.5 sd: invisible point by point, plain to the EWMA
    ratio = chart_ratio(shift, 500, Charts())
    assert not (ratio[:1500] >= 1).any() and (ratio[1500:1600] >= 1).any()
    assert not (np.abs(shift[1500:] / 1.0) > 5).any()  # the point chart alone would not see it
    spike = r.copy()
    spike[1000] = 8.0
    assert chart_ratio(spike, 500, Charts())[1000] >= 1 and chart_ratio(spike, 500, Charts())[990:1000].max() < 1


@pytest.mark.parametrize("kwargs,where", [({"reference_rows": 5}, "referenceRows"),
                                          ({"reference_rows": 10_000}, "referenceRows"),
                                          ({"charts": Charts(ewma_weight=0.0)}, "ewmaWeight"),
                                          ({"charts": Charts(point_limit=-1)}, "pointLimit")])
def test_bad_requests_say_what_to_change(kwargs: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as err:
        analyse_residuals(ThermalZone(), measured_zone(hours=24), HEALTHY, **kwargs)  # type: ignore[arg-type]
    assert err.value.where == where


def test_an_output_unmeasured_in_the_reference_is_refused() -> None:
    data = measured_zone(hours=24)
    late = [math.nan] * 100 + list(data.outputs["T"][100:])
    with pytest.raises(ValidationError, match="fewer than 10 values in the reference"):
        analyse_residuals(ThermalZone(), Measurements.from_columns(data.times, inputs=data.inputs,
                                                                   outputs={"T": late}), HEALTHY, reference_rows=50)


def test_the_live_chart_scores_as_the_batch_analysis_does() -> None:
    from tvilling.simulation.residuals import ResidualChart

    data = zone_with_fault(hours=72, fault_at_h=48, fault_ua=600.0)
    report = analyse_residuals(ThermalZone(), data, HEALTHY, reference_rows=288)
    chart = ResidualChart(288)
    live = [chart.update(float(r)) for r in report.residual["T"]]
    assert live[:288] == [None] * 288 and chart.learned == 288
    np.testing.assert_allclose(np.asarray(live[288:], dtype=float), report.ratio["T"][288:], rtol=1e-12)
    assert chart.update(math.nan) == 0.0
    with pytest.raises(ValidationError):
        ResidualChart(5)
