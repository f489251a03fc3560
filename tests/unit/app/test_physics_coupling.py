"""physics.yaml parsing and one twin's coupling (TwinCoupling) with an in-process session: time grid, held inputs,
learning, episodes, failures. The real FMU in its child process is tested in tests/integration/physics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tvilling.app.monitoring_twin import iso
from tvilling.app.physics_config import PropertyMap, parse_config
from tvilling.app.physics_twin import MAX_RESTARTS, TwinCoupling
from tvilling.core.errors import SimulationError, ValidationError
from tvilling.physics.thermal_zone import ThermalZone

DOC = {"version": 1, "couplings": [{
    "model": "dtmi:example:Zone;1", "fmu": "fmu-0123456789abcdef", "step": 300, "values": {"UA": 420, "C": "6.0e6"},
    "start": {"T_start": "air"}, "inputs": {"T_out": "outdoor", "Q_hvac": {"property": "hvac", "scale": 1000}},
    "outputs": {"T": "air"}, "settle_hours": 0.5, "reference_hours": 1, "quiet_hours": 0.5}]}


def test_a_document_is_read_with_units_and_yaml_numbers() -> None:
    spec = parse_config(DOC).couplings[0]
    assert spec.values == {"UA": 420.0, "C": 6.0e6}  # "6.0e6" is a string to YAML 1.1
    assert spec.inputs["Q_hvac"] == PropertyMap("hvac", 1000.0, 0.0) and spec.reference_rows == 12
    assert spec.properties() == {"air", "outdoor", "hvac"}
    assert PropertyMap("p", 2.0, 1.0).to_twin(PropertyMap("p", 2.0, 1.0).to_model(3.0)) == 3.0


def test_every_problem_is_reported_at_once() -> None:
    bad = {"couplings": [{"model": "zone", "fmu": "fmu-1", "step": 0, "outputs": {}, "inputs": {"T": "x"},
                          "values": {"UA": "a lot"}, "charts": {"ewma_weight": 2}, "colour": "blue",
                          "settle_hours": -1}]}
    with pytest.raises(ValidationError) as err:
        parse_config(bad)
    text = err.value.message
    for needle in ("unknown key(s) colour", ".model: a DTMI", ".fmu: an FMU id", ".step: a positive number",
                   ".outputs: a mapping", ".values.UA: a number", "EWMA weight must be in (0, 1]",
                   ".settle_hours: a number >= 0"):
        assert needle in text, text
    with pytest.raises(ValidationError, match="'couplings' list"):
        parse_config({"version": 1})


class Zone:
    """The native zone behind the session interface, counting calls; ``fail_at`` makes a step call fail."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.model, self.calls, self.fail_at, self.closed = ThermalZone(), 0, fail_at, False

    def initialize(self, values: dict[str, float], start_time: float) -> dict[str, float]:
        self.model.initialize(values, start_time=start_time)
        return self.model.outputs()

    def steps(self, dt: float, inputs: list[dict[str, float]]) -> list[dict[str, float]]:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise SimulationError("the process of the FMU stopped answering (signal SIGSEGV)")
        return [self.model.step(dt, u) for u in inputs]

    def close(self) -> None:
        self.closed = True


def _reading(t: float, **values: float) -> dict[str, Any]:
    return {name: {"new": v, "source_time": iso(t), "quality": "good"} for name, v in values.items()}


def _plant(hours: float, sensor_fault: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """Readings of a zone every 5 minutes, the air temperature from the model itself with 0.05 K of noise (none on
    the first, which starts the coupled model: no start-up transient); with ``sensor_fault`` = (from, to) hours the
    air sensor reads 1.5 K high in between."""
    zone, out, rng = ThermalZone(), [], np.random.default_rng(3)
    zone.initialize({"UA": 420.0, "C": 6e6, "T_start": 19.0, "T_out": 5.0, "Q_hvac": 2000.0})
    for k in range(int(hours * 12)):
        t = 1.8e9 + 300.0 * k
        wrong = sensor_fault is not None and sensor_fault[0] * 12 <= k < sensor_fault[1] * 12
        noise = rng.normal(0, 0.05) if k else 0.0
        out.append(_reading(t, outdoor=5.0, hvac=2.0, air=zone.outputs()["T"] + noise + 1.5 * wrong))
        zone.step(300.0, {"T_out": 5.0, "Q_hvac": 2000.0})
    return out


def test_the_model_follows_the_readings_learns_then_alerts_and_clears() -> None:
    spec = parse_config(DOC).couplings[0]
    sessions: list[Zone] = []
    coupling = TwinCoupling(spec, lambda: sessions.append(Zone()) or sessions[-1])
    insights = []
    for k, changes in enumerate(_plant(6, sensor_fault=(3, 3.5))):
        insights += [(k, i) for i in coupling.update(changes)]
        snap = coupling.snapshot()
        if k == 4:  # half an hour to settle after the start, then an hour of reference
            assert snap["phase"] == "settling" and snap["reference"] == {"rows": 12, "learned": 0}
        if k == 10:
            assert snap["phase"] == "learning" and snap["reference"] == {"rows": 12, "learned": 5}
            assert abs(snap["outputs"]["air"]["residual"]) < 0.2 and snap["outputs"]["air"]["ratio"] is None
    assert len(sessions) == 1 and coupling.snapshot()["phase"] == "watching"
    kinds = [(k, i.kind) for k, i in insights]
    assert kinds[0] == (36, "insight.anomaly") and kinds[1][1] == "insight.cleared" and len(kinds) == 2, kinds
    opened, cleared = insights[0][1].data, insights[1][1].data
    assert opened["signals"] == ["air"] and opened["detector"] == "physics"
    assert opened["since"] == iso(1.8e9 + 36 * 300)
    assert opened["values"]["air"] - opened["expected"]["air"] > 1.0
    # The sensor is right again from step 42; the EWMA of a 1.5 K (~25 reference spreads) error then takes ~25 steps
    # to fall under its limit (0.9 per step), and the episode closes half an hour (6 steps) after that.
    assert 64 < kinds[1][0] <= 76 and cleared["since"] == opened["since"]


def test_readings_out_of_order_or_bad_are_skipped_and_the_frontier_waits_for_every_property() -> None:
    spec = parse_config(DOC).couplings[0]
    coupling = TwinCoupling(spec, Zone)
    t = 1.8e9
    assert coupling.update(_reading(t, outdoor=5.0, hvac=2.0)) == [] and coupling.frontier() is None
    coupling.update(_reading(t, air=19.0))
    assert coupling.frontier() == t and coupling.time == t  # started at the first grid point
    coupling.update(_reading(t - 300, air=18.0))
    coupling.update({"air": {"new": "warm", "source_time": iso(t + 300)}, "hvac": {"new": 1.0, "quality": "bad",
                                                                                "source_time": iso(t + 300)}})
    assert coupling.stats.late == 1 and coupling.stats.skipped == 2
    coupling.update(_reading(t + 600, air=19.1, outdoor=5.0))  # hvac not yet reported past t: the model waits
    assert coupling.time == t and coupling.stats.steps == 0
    coupling.update(_reading(t + 600, hvac=2.0))
    assert coupling.time == t + 600 and coupling.stats.steps == 2


def test_a_failing_session_restarts_then_stops() -> None:
    spec = parse_config(DOC).couplings[0]
    opened: list[Zone] = []
    coupling = TwinCoupling(spec, lambda: opened.append(Zone(fail_at=1)) or opened[-1])
    for changes in _plant(4):
        coupling.update(changes)
    assert coupling.stopped and len(opened) == MAX_RESTARTS + 1 and all(z.closed for z in opened)
    snap = coupling.snapshot()
    assert snap["phase"] == "stopped" and "SIGSEGV" in snap["error"] and snap["restarts"] == MAX_RESTARTS + 1


def test_a_configuration_the_model_rejects_stops_at_once() -> None:
    spec = parse_config({**DOC, "couplings": [{**DOC["couplings"][0], "outputs": {"T_typo": "air"}}]}).couplings[0]
    coupling = TwinCoupling(spec, Zone)
    for changes in _plant(1):
        coupling.update(changes)
    assert coupling.stopped and "no output 'T_typo'" in (coupling.error or "")


def test_a_property_that_never_reports_does_not_let_the_others_pile_up() -> None:
    from tvilling.app.physics_twin import MAX_HELD_READINGS

    coupling = TwinCoupling(parse_config(DOC).couplings[0], Zone)
    for k in range(MAX_HELD_READINGS + 50):  # air and outdoor report; hvac never does
        coupling.update(_reading(1.8e9 + 10.0 * k, air=19.0, outdoor=5.0))
    assert coupling.frontier() is None and coupling.session is None
    assert len(coupling.readings["air"][0]) == MAX_HELD_READINGS == len(coupling.readings["outdoor"][1])
    assert coupling.readings["air"][0][-1] == 1.8e9 + 10.0 * (MAX_HELD_READINGS + 49)
