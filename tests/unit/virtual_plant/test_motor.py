import pytest

from tvilling.virtual_plant.motor import InductionMotor, MotorParams


def test_speed_drops_with_load_by_rated_slip() -> None:
    m = InductionMotor("m", MotorParams(rated_kw=4.0))
    assert m.speed_at(0.0) == pytest.approx(1500.0)
    assert m.speed_at(m.rated_torque_nm()) == pytest.approx(1470.0)
    m.frequency_hz = 25.0  # constant V/f: same slip speed at the same torque
    assert m.speed_at(m.rated_torque_nm()) == pytest.approx(720.0)


def test_electrical_power_exceeds_shaft_power_with_rated_efficiency_at_rated_load() -> None:
    m = InductionMotor("m", MotorParams(rated_kw=4.0))
    s = m.step(60.0, {"speed_rpm": 1470.0, "shaft_power_kw": 4.0})
    assert s.electrical_power_kw > s.shaft_power_kw
    assert s.efficiency == pytest.approx(0.91, abs=1e-6)
    assert s.slip == pytest.approx(0.02)
    light = m.step(60.0, {"speed_rpm": 1490.0, "shaft_power_kw": 1.0})
    assert light.current_a < s.current_a


def test_winding_temperature_is_first_order_toward_rated_rise() -> None:
    m = InductionMotor("m", MotorParams(rated_kw=4.0))
    m.winding_c = 25.0
    tau = m.params.thermal_tau_s
    m.step(tau, {"speed_rpm": 1470.0, "shaft_power_kw": 4.0, "ambient_c": 25.0})
    assert m.winding_c == pytest.approx(25.0 + 80.0 * (1 - 1 / 2.718281828), rel=1e-3)
    for _ in range(20):
        m.step(tau, {"speed_rpm": 1470.0, "shaft_power_kw": 4.0, "ambient_c": 25.0})
    assert m.winding_c == pytest.approx(105.0, abs=0.01)


def test_stopped_motor_draws_nothing() -> None:
    m = InductionMotor("m", running=False)
    s = m.step(60.0, {"speed_rpm": 1470.0, "shaft_power_kw": 4.0})
    assert s.electrical_power_kw == 0.0 and s.speed_rpm == 0.0 and s.current_a == 0.0
