import numpy as np
import pytest

from tvilling.virtual_plant.pump import CentrifugalPump, PumpParams, Valve, pump_curve


def _pump(**kw: float) -> CentrifugalPump:
    return CentrifugalPump("p", Valve("v"), PumpParams(**kw))


def test_flow_increases_with_speed_and_valve_opening() -> None:
    p = _pump()
    speeds = np.linspace(900.0, 1600.0, 8)
    openings = np.linspace(10.0, 100.0, 10)
    grid = np.empty((len(openings), len(speeds)))
    for i, x in enumerate(openings):
        p.valve.position_pct = float(x)
        for j, n in enumerate(speeds):
            grid[i, j] = p.operating_point(float(n), 1.3, 15.0).flow_m3h
    assert np.all(np.diff(grid, axis=1) > 0)  # faster -> more flow at every opening
    assert np.all(np.diff(grid, axis=0) > 0)  # more open -> more flow at every speed


def test_operating_point_lies_on_pump_and_system_curves() -> None:
    p = _pump()
    p.valve.position_pct = 60.0
    s = p.operating_point(1400.0, 1.3, 15.0)
    assert pump_curve(p, 1400.0, np.array([s.flow_m3h]))[0] == pytest.approx(s.head_m)
    k = p.params.pipe_k_m_per_m3h2 + p.valve.k_m_per_m3h2()
    assert s.head_m == pytest.approx(p.params.static_head_m + k * s.flow_m3h**2)


def test_affinity_laws_without_static_head() -> None:
    p = _pump(static_head_m=0.0)
    a = p.operating_point(1470.0, 2.0, 15.0)
    b = p.operating_point(1470.0 * 0.7, 2.0, 15.0)
    assert b.flow_m3h / a.flow_m3h == pytest.approx(0.7)
    assert b.head_m / a.head_m == pytest.approx(0.7**2)
    assert b.shaft_power_kw / a.shaft_power_kw == pytest.approx(0.7**3)


def test_closed_valve_gives_no_flow_but_shutoff_head() -> None:
    p = _pump()
    p.valve.position_pct = 0.0
    s = p.operating_point(1470.0, 1.3, 15.0)
    assert s.flow_m3h == 0.0
    assert s.head_m == pytest.approx(p.params.shutoff_head_m)
    assert s.shaft_power_kw == pytest.approx(p.params.shutoff_power_kw)


def test_low_suction_pressure_cavitates_cuts_head_and_adds_vibration() -> None:
    p = _pump()
    ok = p.operating_point(1470.0, 1.3, 15.0)
    bad = p.operating_point(1470.0, 0.3, 15.0)
    assert ok.cavitation == 0.0 and ok.npsh_available_m > ok.npsh_required_m
    assert bad.cavitation > 0.1
    assert bad.head_m < ok.head_m and bad.flow_m3h < ok.flow_m3h
    assert bad.vibration_broadband_g > ok.vibration_broadband_g == 0.0


def test_valve_moves_at_stroke_rate_and_sticks_inside_dead_band() -> None:
    v = Valve("v", stroke_pct_per_s=2.0, command_pct=50.0, position_pct=50.0)
    v.command_pct = 60.0
    v.step(2.0)
    assert v.position_pct == pytest.approx(54.0)
    v.step(100.0)
    assert v.position_pct == pytest.approx(60.0)
    v.stiction_pct = 8.0
    v.command_pct = 65.0
    v.step(100.0)
    assert v.position_pct == pytest.approx(60.0)  # stuck
    v.command_pct = 75.0
    v.step(100.0)
    assert v.position_pct == pytest.approx(75.0)  # breaks away once the force exceeds friction
