import pytest

from tvilling.virtual_plant.chiller import Chiller


def _settle(c: Chiller, hours: float = 6.0, outdoor: float = 20.0, flow: float = 9.9) -> None:
    for _ in range(int(hours * 60)):
        c.step(60.0, {"product_flow_m3h": flow, "outdoor_c": outdoor})


def test_cop_falls_with_condenser_temperature() -> None:
    c = Chiller("c")
    assert c.cop(5.0, 30.0) > c.cop(5.0, 40.0) > c.cop(5.0, 50.0)


def test_chiller_holds_setpoint_and_fouling_raises_power() -> None:
    clean = Chiller("c")
    _settle(clean)
    assert clean.state.chw_supply_c == pytest.approx(clean.setpoint_c, abs=0.5)
    fouled = Chiller("c", fouling_k=10.0)
    _settle(fouled)
    assert fouled.state.cop < clean.state.cop
    assert fouled.state.electrical_kw > 1.1 * clean.state.electrical_kw
    assert fouled.state.condensing_c == pytest.approx(clean.state.condensing_c + 10.0, abs=0.5)


def test_hot_weather_raises_power_and_higher_setpoint_lowers_it() -> None:
    mild, hot = Chiller("c"), Chiller("c")
    _settle(mild, outdoor=15.0)
    _settle(hot, outdoor=32.0)
    assert hot.state.electrical_kw > mild.state.electrical_kw
    warm = Chiller("c", setpoint_c=8.0)
    _settle(warm, outdoor=15.0)
    assert warm.state.electrical_kw < mild.state.electrical_kw
    assert warm.state.chw_supply_c > mild.state.chw_supply_c + 3.0


def test_fouling_grows_and_trips_on_high_condensing_temperature() -> None:
    c = Chiller("c", fouling_rate_k_per_day=5.0)
    _settle(c, hours=24 * 8, outdoor=28.0)
    assert c.fouling_k == pytest.approx(40.0, rel=0.01)
    assert c.tripped and c.state.cooling_kw == 0.0
