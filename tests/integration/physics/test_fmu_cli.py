"""``tvilling fmu info`` / ``tvilling fmu simulate`` (contract in shared/docs/contracts.md) on real FMUs."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tvilling.cli.main import app

runner = CliRunner()


def _last_json(stdout: str) -> dict[str, object]:
    out: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_simulate_writes_every_step_and_honours_set(thermal_zone_fmus: dict[str, Path], tmp_path: Path,
                                                     version: str) -> None:
    out = tmp_path / "run.csv"
    result = runner.invoke(app, ["fmu", "simulate", str(thermal_zone_fmus[version]), "--stop-time", "7200",
                                 "--step", "600", "--set", "Q_hvac=-2000", "--set", "T_out=5", "--set", "UA=400",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = _last_json(result.stdout)
    assert summary["steps"] == 12 and summary["rows"] == 13 and summary["fmiVersion"] == version
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "T", "Q_loss"] and len(rows) == 13
    equilibrium = 5.0 - 2000.0 / 400.0
    expected = equilibrium + (21.0 - equilibrium) * math.exp(-400.0 * 7200.0 / 5.0e6)
    assert float(rows[-1]["time"]) == 7200.0 and float(rows[-1]["T"]) == pytest.approx(expected, abs=1e-9)


def test_defaults_and_an_input_table(thermal_zone_fmus: dict[str, Path], tmp_path: Path) -> None:
    table = tmp_path / "inputs.csv"
    table.write_text("time,Q_hvac,T_out\n0,0,21\n3600,5000,21\n")
    out = tmp_path / "run.csv"
    result = runner.invoke(app, ["fmu", "simulate", str(thermal_zone_fmus["3.0"]), "--input", str(table),
                                 "--output", "T", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "1440 steps of 60 s to t = 86400 s" in result.stdout  # the FMU's default experiment
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "T"] and len(rows) == 1441
    assert float(rows[60]["T"]) == pytest.approx(21.0) and float(rows[-1]["T"]) > 25.0


def test_info(thermal_zone_fmus: dict[str, Path]) -> None:
    result = runner.invoke(app, ["fmu", "info", str(thermal_zone_fmus["2.0"]), "--json"])
    assert result.exit_code == 0, result.stderr
    info = _last_json(result.stdout)
    assert info["fmiVersion"] == "2.0" and info["interfaces"] == ["coSimulation"]
    names = [v["name"] for v in info["variables"]]  # type: ignore[attr-defined, union-attr]
    assert names == ["C", "UA", "T_start", "Q_hvac", "T_out", "T", "Q_loss"]
    text = runner.invoke(app, ["fmu", "info", str(thermal_zone_fmus["2.0"])])
    assert text.exit_code == 0 and "parameters:" in text.stdout and "UA = 500.0 W/K" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "UAx=3"], "no variable 'UAx'"),
    (["--set", "UA"], "is not NAME=VALUE"),
    (["--set", "UA=warm"], "must be a finite number"),
    (["--set", "C=0"], "C must be > 0"),
    (["--step", "-1"], "step must be > 0"),
    (["--stop-time", "0"], "must be after the start time"),
    (["--output", "nope"], "no variable 'nope'"),
])
def test_bad_input_is_one_clear_line(thermal_zone_fmus: dict[str, Path], tmp_path: Path, args: list[str],
                                     message: str) -> None:
    result = runner.invoke(app, ["fmu", "simulate", str(thermal_zone_fmus["2.0"]), *args,
                                 "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_a_file_that_is_not_an_fmu(tmp_path: Path) -> None:
    junk = tmp_path / "junk.fmu"
    junk.write_text("hello")
    for command in (["fmu", "info", str(junk)], ["fmu", "simulate", str(junk), "--out", str(tmp_path / "o.csv")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and "is not an FMU" in result.stderr


def test_ensemble(thermal_zone_fmus: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bands.csv"
    result = runner.invoke(app, ["fmu", "ensemble", str(thermal_zone_fmus["2.0"]), "--vary", "UA=uniform:400:600",
                                 "--set", "Q_hvac=-2000", "--set", "T_out=5", "--limit", "T<1", "--samples", "60",
                                 "--step", "3600", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = _last_json(result.stdout)
    assert summary["samples"] == 60 and summary["vary"] == {"UA": {"dist": "uniform", "low": 400.0, "high": 600.0}}
    assert 0.3 < summary["exceedance"]["T"] < 0.7  # type: ignore[index]
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["time", "T_p5", "T_p25", "T_p50"] and len(rows) == 25
    assert float(rows[-1]["T_p5"]) <= float(rows[-1]["T_p50"]) <= float(rows[-1]["T_p95"])
    text = runner.invoke(app, ["fmu", "ensemble", str(thermal_zone_fmus["2.0"]), "--vary", "UA=normal:500:50",
                               "--samples", "10", "--step", "3600", "--out", str(out)])
    assert text.exit_code == 0 and "T at the end: median" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--vary", "UA=normal:500"], "normal takes 2 numbers"),
    (["--vary", "UA=normal:500:5", "--limit", "T=3"], "is not NAME>LEVEL"),
    (["--vary", "UA=normal:500:5", "--samples", "1"], "between 2 and 1000"),
    (["--vary", "Tx=normal:1:1"], "no variable 'Tx'"),
])
def test_bad_ensembles_are_one_line(thermal_zone_fmus: dict[str, Path], tmp_path: Path, args: list[str],
                                    message: str) -> None:
    result = runner.invoke(app, ["fmu", "ensemble", str(thermal_zone_fmus["2.0"]), *args,
                                 "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _measurements_csv(path: Path, *, timestamps: bool) -> None:
    from tests.unit.simulation.test_calibrate import measured_zone

    data = measured_zone(hours=24)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["when", "outdoor", "hvac_w", "zone_temp"])
        for k, t in enumerate(data.times):
            when = f"2026-11-20T{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:00Z" if timestamps else repr(t)
            writer.writerow([when, data.inputs["T_out"][k], data.inputs["Q_hvac"][k], data.outputs["T"][k]])


@pytest.mark.parametrize("timestamps", [True, False])
def test_calibrate(thermal_zone_fmus: dict[str, Path], tmp_path: Path, timestamps: bool) -> None:
    data, out = tmp_path / "zone.csv", tmp_path / "fit.csv"
    _measurements_csv(data, timestamps=timestamps)
    result = runner.invoke(app, ["fmu", "calibrate", str(thermal_zone_fmus["3.0"]), "--data", str(data),
                                 "--time-col", "when", "--fit", "UA=100:2000", "--fit", "C=1e6:1e8",
                                 "--set", "T_start=19", "--input", "T_out=outdoor", "--input", "Q_hvac=hvac_w",
                                 "--compare", "T=zone_temp", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    fit = _last_json(result.stdout)
    assert fit["values"]["UA"] == pytest.approx(420.0, rel=0.02)  # type: ignore[index]
    assert fit["values"]["C"] == pytest.approx(6e6, rel=0.02)  # type: ignore[index]
    assert fit["rmseAfter"]["T"] < 0.15 < fit["rmseBefore"]["T"]  # type: ignore[index, operator]
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "T_measured", "T_model", "T_residual"] and len(rows) == 288
    text = runner.invoke(app, ["fmu", "calibrate", str(thermal_zone_fmus["2.0"]), "--data", str(data),
                               "--time-col", "when", "--fit", "UA=100:2000", "--set", "T_start=19", "--set", "C=6e6",
                               "--input", "T_out=outdoor", "--input", "Q_hvac=hvac_w", "--compare", "T=zone_temp"])
    assert text.exit_code == 0, text.stderr
    assert "UA = 4" in text.stdout and "(95 % " in text.stdout and "T: RMSE" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--time-col", "when", "--compare", "T=zone_temp", "--fit", "UA=2000:100"], "is not NAME=LOW:HIGH"),
    (["--time-col", "t", "--compare", "T=zone_temp", "--fit", "UA=100:2000"], "no column 't'"),
    (["--time-col", "when", "--fit", "UA=100:2000", "--compare", "T=nope"], "no column 'nope' for the output 'T'"),
    (["--time-col", "when", "--compare", "T=zone_temp", "--fit", "Q_hvac=0:1"], "'Q_hvac' is an input"),
])
def test_bad_calibrations_are_one_line(thermal_zone_fmus: dict[str, Path], tmp_path: Path, args: list[str],
                                       message: str) -> None:
    data = tmp_path / "zone.csv"
    _measurements_csv(data, timestamps=False)
    result = runner.invoke(app, ["fmu", "calibrate", str(thermal_zone_fmus["2.0"]), "--data", str(data), *args])
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_documented_calibration_example(thermal_zone_fmus: dict[str, Path], tmp_path: Path) -> None:
    """docs/physics.md's example, as written there: make_measurements.py, then calibrate three parameters."""
    data = _make_measurements(tmp_path, "zone.csv")
    result = runner.invoke(app, ["fmu", "calibrate", str(thermal_zone_fmus["3.0"]), "--data", data,
                                 "--time-col", "timestamp", "--fit", "UA=100:2000", "--fit", "C=1e6:1e8",
                                 "--fit", "T_start=10:30", "--input", "T_out=outdoor", "--input", "Q_hvac=hvac_w",
                                 "--compare", "T=zone_temp"])
    assert result.exit_code == 0, result.stderr
    # The figures the docs print, to the digits a different BLAS could not move.
    numbers = {m[0]: float(m[1]) for m in re.findall(r"^  (\w+) = ([\d.e+-]+)", result.stdout, re.M)}
    assert numbers["UA"] == pytest.approx(420.776, abs=0.01) and numbers["C"] == pytest.approx(6.00289e6, rel=1e-4)
    assert numbers["T_start"] == pytest.approx(19.004, abs=0.002)
    assert re.search(r"T: RMSE 1\.006 -> 0\.098\d+ degC", result.stdout), result.stdout


def _make_measurements(tmp_path: Path, name: str, **kwargs: object) -> str:
    """Run examples/fmus/make_measurements.py's main() as the docs do; the CSV's path."""
    import importlib.util

    from tests.support.fmus import ROOT

    spec = importlib.util.spec_from_file_location("make_measurements", ROOT / "examples/fmus/make_measurements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(str(tmp_path / name), **kwargs)
    return str(tmp_path / name)


RESIDUAL_ARGS = ["--time-col", "timestamp", "--input", "T_out=outdoor", "--input", "Q_hvac=hvac_w",
                 "--compare", "T=zone_temp", "--set", "UA=420.776", "--set", "C=6.00289e6", "--set", "T_start=19.004"]


def test_the_documented_residuals_example(thermal_zone_fmus: dict[str, Path], tmp_path: Path) -> None:
    """docs/physics.md's residual example: six days, the envelope conductance 420 -> 600 W/K from hour 96, the
    model calibrated on three healthy days; the fault is found 45 minutes after it began and nothing before."""
    data = _make_measurements(tmp_path, "week.csv", days=6, fault_at_h=96, fault_ua=600)
    out = tmp_path / "residuals.csv"
    result = runner.invoke(app, ["fmu", "residuals", str(thermal_zone_fmus["3.0"]), "--data", data, *RESIDUAL_ARGS,
                                 "--reference-rows", "576", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "reference (healthy): the first 576 rows, to 2026-11-21T23:55:00Z" in lines[0]
    assert re.search(r"T: residual bias .* RMSE 0\.0936\d -> 0\.48\d+ degC after the reference", lines[1]), lines[1]
    assert lines[2] == "2 episode(s) after the reference:"
    assert lines[3].startswith("  2026-11-24T00:45:00Z to ") and lines[3].endswith("degC)"), lines[3]
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 * 288 and set(rows[0]) == {"time", "T_measured", "T_model", "T_residual", "score",
                                                     "anomalous"}
    assert [r["anomalous"] for r in rows[:96 * 12]] == ["0"] * (96 * 12) and rows[96 * 12 + 9]["anomalous"] == "1"
    as_json = runner.invoke(app, ["fmu", "residuals", str(thermal_zone_fmus["2.0"]), "--data", data, *RESIDUAL_ARGS,
                                  "--reference-rows", "576", "--json"])
    summary = json.loads(as_json.stdout.splitlines()[-1])
    assert summary["timeOrigin"] == "2026-11-20T00:00:00Z" and summary["episodes"][0]["start"] == 96 * 3600 + 2700
    # healthy data: the same model, no episode
    healthy = _make_measurements(tmp_path, "zone.csv")
    result = runner.invoke(app, ["fmu", "residuals", str(thermal_zone_fmus["3.0"]), "--data", healthy, *RESIDUAL_ARGS])
    assert result.exit_code == 0 and "0 episode(s) after the reference — behaves like its model" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--reference-rows", "5"], "the reference must be between 10 rows"),
    (["--compare", "T=nope"], "no column 'nope'"),
    (["--set", "UA"], "is not NAME=VALUE"),
])
def test_residuals_errors_are_one_line(thermal_zone_fmus: dict[str, Path], tmp_path: Path, args: list[str],
                                       message: str) -> None:
    data = _make_measurements(tmp_path, "zone.csv")
    result = runner.invoke(app, ["fmu", "residuals", str(thermal_zone_fmus["2.0"]), "--data", data, *RESIDUAL_ARGS,
                                 *args])
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
