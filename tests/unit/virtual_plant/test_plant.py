import json
from dataclasses import replace
from pathlib import Path

import pytest

from tvilling.virtual_plant import FaultSpec, Plant, PlantConfig
from tvilling.virtual_plant.errors import CommandError, ConfigError
from tvilling.virtual_plant.faults import FAULT_KINDS


def _plant(seed: int = 3, **kw: object) -> Plant:
    return Plant(PlantConfig(seed=seed, faults=[], **kw))  # type: ignore[arg-type]


def _run(p: Plant, steps: int) -> dict[str, float]:
    for _ in range(steps):
        p.step()
    return p.true_state()


def _pair(steps: int = 30) -> tuple[Plant, Plant]:
    a, b = _plant(), _plant()
    _run(a, steps)
    _run(b, steps)
    return a, b


def test_raising_pump_speed_raises_flow_and_power() -> None:
    a, b = _pair()
    for p in (a, b):  # manual valve: in auto the level controller would trim the flow back
        p.apply_command("pump-1", "set_valve_pct", 100.0)
        p.apply_command("pump-1", "set_speed_pct", 80.0)
    _run(a, 10)
    b.apply_command("pump-1", "set_speed_pct", 100.0)
    sa, sb = _run(a, 10), _run(b, 10)
    assert sb["pump-1.flow_m3h"] > sa["pump-1.flow_m3h"] * 1.1
    assert sb["pump-1-motor.electrical_kw"] > sa["pump-1-motor.electrical_kw"] * 1.3
    assert sb["pump-1-motor.speed_rpm"] > sa["pump-1-motor.speed_rpm"]


def test_closing_the_valve_lowers_flow_and_raises_discharge_pressure() -> None:
    a, b = _pair()
    b.apply_command("pump-1", "set_valve_pct", 40.0)
    sa, sb = _run(a, 5), _run(b, 5)
    assert sb["pump-1-valve.position_pct"] == pytest.approx(40.0)
    assert sb["pump-1.flow_m3h"] < 0.8 * sa["pump-1.flow_m3h"]
    assert sb["pump-1.discharge_pressure_bar"] > sa["pump-1.discharge_pressure_bar"]


def test_raising_hall_cooling_setpoint_raises_zone_temperature() -> None:
    a, b = _pair(steps=720)
    b.apply_command("hall", "set_cooling_setpoint_c", 28.0)
    ta = tb = 0.0
    for _ in range(1440):
        ta += _run(a, 1)["hall.air_c"]
        tb += _run(b, 1)["hall.air_c"]
    assert tb / 1440 > ta / 1440 + 1.0
    assert _run(b, 1)["hall.hvac_electrical_kw"] <= _run(a, 1)["hall.hvac_electrical_kw"]


def test_raising_chiller_setpoint_lowers_chiller_power() -> None:
    a, b = _pair()
    b.apply_command("chiller-1", "set_setpoint_c", 9.0)
    ea = eb = 0.0
    for _ in range(240):
        ea += _run(a, 1)["chiller-1.electrical_kw"]
        eb += _run(b, 1)["chiller-1.electrical_kw"]
    assert eb < 0.9 * ea
    assert b.true_state()["chiller-1.chw_supply_c"] > a.true_state()["chiller-1.chw_supply_c"] + 3.0


def test_line_speed_and_stop_change_throughput() -> None:
    a, b = _pair()
    b.apply_command("line-1", "set_speed_bpm", 300.0)
    bottles_a0, bottles_b0 = a.line.state.bottles_total, b.line.state.bottles_total
    _run(a, 240)
    _run(b, 240)
    made_a = a.line.state.bottles_total - bottles_a0
    made_b = b.line.state.bottles_total - bottles_b0
    assert made_b < 0.7 * made_a
    assert b.true_state()["filler-1-motor.speed_rpm"] < a.true_state()["filler-1-motor.speed_rpm"]
    b.apply_command("line-1", "stop")
    s = _run(b, 2)
    assert s["line-1.throughput_bpm"] == 0.0 and s["filler-1-motor.electrical_kw"] == 0.0


def test_starving_the_filler_limits_line_throughput() -> None:
    p = _plant()
    p.apply_command("pump-1", "set_valve_pct", 8.0)
    s = _run(p, 40)
    supply_bpm = s["pump-1.flow_m3h"] * 1000 / 60 / p.line.params.bottle_l
    assert supply_bpm < p.line.speed_command_bpm
    if not p.line.state.jammed:
        assert p.line.state.limited_by == "product_supply"
        assert s["line-1.throughput_bpm"] == pytest.approx(supply_bpm)


def test_bad_commands_are_rejected_with_a_reason() -> None:
    p = _plant()
    with pytest.raises(CommandError, match="unknown device"):
        p.apply_command("nope", "start")
    with pytest.raises(CommandError, match="unknown command"):
        p.apply_command("pump-1", "fly")
    with pytest.raises(CommandError, match="outside"):
        p.apply_command("pump-1", "set_speed_pct", 500.0)
    with pytest.raises(CommandError, match="numeric"):
        p.apply_command("pump-1", "set_speed_pct", None)
    with pytest.raises(CommandError, match="below the cooling"):
        p.apply_command("hall", "set_heating_setpoint_c", 24.0)


def _readings(seed: int, steps: int = 300) -> list[tuple[str, str, object, str]]:
    p = Plant(PlantConfig(seed=seed, horizon_s=steps * 60.0))
    out: list[tuple[str, str, object, str]] = []
    for _ in range(steps):
        p.step()
        for dev, rs in p.readings().items():
            out.extend((dev, r.name, r.value, r.source_time.isoformat()) for r in rs)
    return out


def test_runs_are_reproducible_by_seed() -> None:
    a, again, other = _readings(7), _readings(7), _readings(8)
    assert a == again
    assert a != other
    assert {d for d, *_ in a} == {"pump-1", "filler-1", "conveyor-1", "line-1", "chiller-1", "hall"}


def test_bearing_wear_runs_to_failure_trips_the_drive_and_is_recorded() -> None:
    wear = FaultSpec("pump-1-bearing", "bearing_wear", 3600.0, {"defect": "outer", "growth_per_day": 2.0})
    p = Plant(PlantConfig(seed=1, dt_s=300.0, faults=[wear], repair_after_s=None))
    rms0 = _run(p, 12)["pump-1-bearing.rms_ms2"]
    for _ in range(12 * 24 * 10):
        s = _run(p, 1)
        if p.pump_train.bearing.failed:
            break
    assert p.pump_train.bearing.failed and p.pump_train.motor.tripped
    assert s["pump-1-bearing.rms_ms2"] > 5 * rms0
    s = _run(p, 2)
    assert s["pump-1.flow_m3h"] == 0.0
    truth = p.truth.as_json()["faults_injected"]
    assert [(f["asset"], f["kind"]) for f in truth] == [("pump-1-bearing", "bearing_wear")]
    assert truth[0]["onset"] == "2026-05-04T01:00:00Z"
    assert truth[0]["failure_at"] is not None and truth[0]["failure_at"] > truth[0]["onset"]
    p.apply_command("pump-1", "replace_bearing")
    s = _run(p, 2)
    assert s["pump-1.flow_m3h"] > 10.0 and s["pump-1-bearing.defect_mm"] == 0.0
    assert p.truth.as_json()["faults_injected"][0]["end"] is not None


def test_scripted_faults_take_effect() -> None:
    faults = [
        FaultSpec("pump-1-valve", "valve_sticking", 0.0, {"stiction_pct": 15.0}),
        FaultSpec("pump-1", "cavitation", 600.0, {"suction_bar": 0.3, "duration_s": 1800.0}),
        FaultSpec("chiller-1", "chiller_fouling", 0.0, {"rate_k_per_day": 2.0}),
        FaultSpec("hall/air_temperature", "sensor_drift", 0.0, {"drift_per_day": 1.0}),
    ]
    p = Plant(PlantConfig(seed=2, faults=faults))
    p.apply_command("pump-1", "set_valve_pct", 90.0)
    s = _run(p, 15)
    assert s["pump-1-valve.position_pct"] == pytest.approx(100.0)  # stuck: the change is inside the dead band
    assert s["pump-1.cavitation"] > 0.0
    s = _run(p, 40)
    assert s["pump-1.cavitation"] == 0.0  # the episode ended
    _run(p, 1440)
    assert p.chiller.fouling_k == pytest.approx(2.0, rel=0.05)
    assert p.sensor("hall", "air_temperature").offset_at(p.t_s) == pytest.approx(1.0, rel=0.05)
    kinds = {f["kind"]: f for f in p.truth.as_json()["faults_injected"]}
    assert kinds["cavitation"]["end"] is not None


def test_random_scenario_covers_every_kind_within_the_horizon(tmp_path: Path) -> None:
    p = Plant(PlantConfig(seed=4, dt_s=600.0, horizon_s=20 * 86400.0))
    _run(p, 20 * 144)
    path = tmp_path / "truth.json"
    p.truth.dump(path)
    data = json.loads(path.read_text())
    faults = data["faults_injected"]
    assert sorted(f["kind"] for f in faults) == sorted(FAULT_KINDS)
    assert data["sim_days"] == pytest.approx(20.0)
    for f in faults:
        assert data["start"] <= f["onset"] <= data["end"]
        assert f["failure_at"] is None or f["failure_at"] > f["onset"]
        assert set(f) >= {"asset", "kind", "onset", "failure_at"}


def test_invalid_fault_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        FaultSpec("x", "meteor", 0.0)
    for bad in (FaultSpec("no-such-bearing", "bearing_wear", 1e6), FaultSpec("pump-1", "valve_sticking", 1e6),
                FaultSpec("hall/nope", "sensor_drift", 1e6),
                FaultSpec("pump-1-bearing", "bearing_wear", 1e6, {"defect": "cage"})):
        with pytest.raises(ConfigError):
            Plant(PlantConfig(faults=[bad]))  # rejected up front, not a million seconds into the run


def test_sticking_valve_makes_the_level_loop_cycle() -> None:
    def spread(stiction: float) -> tuple[float, float]:
        faults = [FaultSpec("pump-1-valve", "valve_sticking", 0.0, {"stiction_pct": stiction})] if stiction else []
        p = Plant(PlantConfig(seed=1, faults=faults))
        p.line.params = replace(p.line.params, jams_per_hour=0.0)  # isolate the loop from jam disturbances
        flows, gaps = [], []
        for _ in range(1440):
            s = _run(p, 1)
            flows.append(s["pump-1.flow_m3h"])
            gaps.append(abs(s["pump-1-valve.command_pct"] - s["pump-1-valve.position_pct"]))
        tail = flows[720:]
        return max(tail) - min(tail), max(gaps[720:])

    healthy, sticky = spread(0.0), spread(10.0)
    assert healthy[0] < 0.05 and healthy[1] < 0.5  # settled: flow steady, stem follows the command
    assert sticky[0] > 1.0  # limit cycle in flow
    assert sticky[1] > 5.0  # controller output runs away from the stuck stem


def test_breakdown_is_repaired_after_the_configured_delay() -> None:
    wear = FaultSpec("conveyor-1-bearing", "bearing_wear", 0.0, {"defect": "inner", "growth_per_day": 3.0})
    p = Plant(PlantConfig(seed=2, dt_s=300.0, faults=[wear], repair_after_s=4 * 3600.0))
    while not p.line.conveyor.bearing.failed:
        _run(p, 1)
    assert _run(p, 2)["line-1.throughput_bpm"] == 0.0
    _run(p, 12 * 4)
    assert _run(p, 2)["conveyor-1-bearing.defect_mm"] == 0.0
    f = p.truth.as_json()["faults_injected"][0]
    assert f["failure_at"] < f["end"]
    assert not p.line.conveyor.motor.tripped
