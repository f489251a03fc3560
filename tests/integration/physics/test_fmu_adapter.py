"""The FMU adapter on real FMUs (FMI 2.0 and 3.0 co-simulation, compiled with gcc): the physics-model conformance
suite, agreement with the native model of the same equations, and clear errors for what cannot run."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from tests.unit.physics.conformance import check_physics_model
from tvilling.adapters.fmu import FmuModel, read_info
from tvilling.core.errors import SimulationError, ValidationError
from tvilling.physics.thermal_zone import ThermalZone
from tvilling.simulation.cosim import InputTable, Span, simulate

VERSIONS = ("2.0", "3.0")
INPUTS = {"Q_hvac": -2000.0, "T_out": 5.0}


@pytest.mark.parametrize("version", VERSIONS)
def test_conformance(thermal_zone_fmus: dict[str, Path], version: str) -> None:
    check_physics_model(lambda: FmuModel(thermal_zone_fmus[version]), INPUTS)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_fmu_and_the_native_model_agree(thermal_zone_fmus: dict[str, Path], version: str) -> None:
    table = InputTable.from_rows([0.0, 21600.0, 43200.0], {"Q_hvac": [0.0, -4000.0, 1500.0],
                                                           "T_out": [8.0, 14.0, 3.0]})
    values = {"C": 3.0e6, "UA": 420.0, "T_start": 19.5}
    span = Span(0.0, 86400.0, 300.0)
    with FmuModel(thermal_zone_fmus[version]) as fmu:
        got = simulate(fmu, span, values=values, inputs=table)
    want = simulate(ThermalZone(), span, values=values, inputs=table)
    assert got.times == want.times and got.units == want.units == {"T": "degC", "Q_loss": "W"}
    for name in ("T", "Q_loss"):
        assert max(abs(a - b) for a, b in zip(got.columns[name], want.columns[name], strict=True)) < 1e-9


@pytest.mark.parametrize("version", VERSIONS)
def test_info_lists_variables_units_and_the_default_experiment(thermal_zone_fmus: dict[str, Path],
                                                               version: str) -> None:
    info = read_info(thermal_zone_fmus[version])
    assert info.fmi_version == version and info.co_simulation and info.can_snapshot
    by_name = {v.name: v for v in info.variables}
    assert (by_name["UA"].causality, by_name["UA"].unit, by_name["UA"].start) == ("parameter", "W/K", 500.0)
    assert by_name["T"].causality == "output" and by_name["T"].unit == "degC"
    assert info.default_experiment.stop_time == 86400.0 and info.default_experiment.step_size == 60.0


@pytest.mark.parametrize("version", VERSIONS)
def test_the_fmus_own_message_reaches_the_user(thermal_zone_fmus: dict[str, Path], version: str) -> None:
    with FmuModel(thermal_zone_fmus[version]) as fmu:
        with pytest.raises(SimulationError) as err:
            fmu.initialize({"C": 0.0})
        assert str(err.value).startswith("the model refused its start values: parameter C = 0 J/K is invalid")
        assert err.value.extra["fmiCall"] == "exitInitializationMode"
        assert err.value.extra["fmuLog"], "the FMU's log lines travel with the error"
        fmu.initialize({})  # the instance is still usable after a refused start
        assert fmu.step(60.0, INPUTS)["T"] < 21.0


def _rewrite(source: Path, target: Path, *, drop_binaries: bool = False, swap_interface: bool = False) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            if drop_binaries and item.filename.startswith("binaries/"):
                continue
            data = zin.read(item)
            if swap_interface and item.filename == "modelDescription.xml":
                data = re.sub(rb"<CoSimulation[^>]*/>", b'<ModelExchange modelIdentifier="ThermalZone"/>', data)
            zout.writestr(item, data)
    target.write_bytes(buf.getvalue())
    return target


def test_files_that_cannot_run_are_refused_with_the_reason(thermal_zone_fmus: dict[str, Path],
                                                          tmp_path: Path) -> None:
    fmi2 = thermal_zone_fmus["2.0"]
    with pytest.raises(ValidationError, match="no binary for this machine"):
        FmuModel(_rewrite(fmi2, tmp_path / "nobin.fmu", drop_binaries=True))
    with pytest.raises(ValidationError, match="model-exchange FMU"):
        FmuModel(_rewrite(fmi2, tmp_path / "me.fmu", swap_interface=True))
    (tmp_path / "junk.fmu").write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="is not an FMU"):
        read_info(tmp_path / "junk.fmu")
    with pytest.raises(ValidationError, match="no such FMU file"):
        read_info(tmp_path / "missing.fmu")
