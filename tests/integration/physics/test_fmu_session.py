"""The long-lived FMU child process of a live coupling, on real gcc-built FMUs: the same numbers as the FMU in
process, the FMU's refusals in its own words, and native crashes and hangs that cost the session, not the caller."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.fmus import patched_thermal_zone
from tvilling.adapters.fmu import FmuModel
from tvilling.app.fmu_session import FmuSession
from tvilling.core.errors import SimulationError, ValidationError

U = {"T_out": 5.0, "Q_hvac": -2000.0}


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_a_session_steps_exactly_as_the_fmu_in_process(thermal_zone_fmus: dict[str, Path], version: str) -> None:
    with FmuModel(thermal_zone_fmus[version]) as model:
        model.initialize({"UA": 450.0}, start_time=1.8e9)
        expected = [model.step(300.0, U) for _ in range(288)]
    with FmuSession(thermal_zone_fmus[version].read_bytes(), timeout_s=10) as session:
        assert {v["name"] for v in session.variables()} >= {"UA", "C", "T", "T_out"}
        assert session.initialize({"UA": 450.0}, 1.8e9)["T"] == 21.0
        got = session.steps(300.0, [U] * 100) + session.steps(300.0, [U] * 188)
        assert got == expected  # the same floats: JSON round-trips doubles exactly
        with pytest.raises(SimulationError, match="C must be > 0"):
            session.initialize({"C": 0.0}, 0.0)
        with pytest.raises(ValidationError, match="UAA"):
            session.initialize({"UAA": 1.0}, 0.0)
        assert session.initialize({}, 0.0)["T"] == 21.0 and session.alive  # refusals cost nothing
    assert not session.alive


def test_a_crash_or_a_hang_in_native_code_costs_the_session_only(tmp_path: Path) -> None:
    crashing = patched_thermal_zone(tmp_path / "crash", "if (h > 1e8) abort();")
    with FmuSession(crashing, timeout_s=10) as session:
        session.initialize({}, 0.0)
        session.steps(300.0, [U])
        with pytest.raises(SimulationError, match=r"stopped answering \(signal SIGABRT\)"):
            session.steps(2e8, [U])
        assert not session.alive
        with pytest.raises(SimulationError, match="is closed"):
            session.steps(300.0, [U])
    hanging = patched_thermal_zone(tmp_path / "hang", "if (h > 1e8) { for (;;) { } }")
    with FmuSession(hanging, timeout_s=1.0) as session:
        session.initialize({}, 0.0)
        began = time.monotonic()
        with pytest.raises(SimulationError, match="did not answer within 1 s and was stopped"):
            session.steps(2e8, [U])
        assert time.monotonic() - began < 5 and not session.alive
