"""``tvilling rul train`` / ``tvilling rul predict`` on small history files written from the synthetic fleet."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.unit.ml.rul.fleet import make_fleet
from tests.unit.ml.rul.test_bench_cli import _write as write_cmapss
from tvilling.cli.main import app

runner = CliRunner()


def _last_json(stdout: str) -> dict[str, object]:
    out: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rul")
    train, _ = make_fleet(14, seed=21)
    now, _ = make_fleet(6, seed=22, truncate=True)
    train = train.assign(site="north")  # a text column: left out with --exclude
    paths = {"train": d / "train.csv", "now": d / "now.csv", "model": d / "model.json"}
    train.to_csv(paths["train"], index=False)
    now.assign(operator="x").to_csv(paths["now"], index=False)  # extra columns are ignored when predicting
    result = runner.invoke(app, ["rul", "train", "--input", str(paths["train"]), "--out", str(paths["model"]),
                                 "--exclude", "site", "--folds", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    paths["summary"] = d / "summary.json"
    paths["summary"].write_text(result.stdout.strip().splitlines()[-1])
    return paths


def test_train_reports_what_it_learned(files: dict[str, Path]) -> None:
    summary = json.loads(files["summary"].read_text())
    assert summary["units"] == 14 and summary["regimes"] == 1
    assert summary["sensors_dropped"] == ["sensor_7", "sensor_8"]  # the fleet's two constant columns
    assert summary["settings"] == ["setting_1", "setting_2", "setting_3"]
    assert 0 < summary["cv_rmse"] < 40 and summary["out"] == str(files["model"])
    doc = json.loads(files["model"].read_text())
    assert doc["extra"]["training"]["source"] == "train.csv" and len(doc["extra"]["training"]["source_sha256"]) == 64


def test_predict_gives_each_unit_an_interval_and_a_probability(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["rul", "predict", "--model", str(files["model"]), "--input", str(files["now"]),
                                 "--out", str(out), "--within", "25", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = _last_json(result.stdout)
    table = pd.read_csv(out)
    assert list(table.columns) == ["unit", "cycle", "rul", "rul_lower", "rul_upper", "interval_level", "within",
                                   "p_failure"]
    assert len(table) == 6 and summary["units"] == 6 and summary["within"] == 25
    assert table["cycle"].dtype.kind == "i"  # whole cycles in, whole cycles out
    assert (table["rul_lower"] <= table["rul"]).all() and (table["rul"] <= table["rul_upper"]).all()
    assert table["p_failure"].between(0, 1).all()
    risk = summary["most_at_risk"]
    assert isinstance(risk, list) and risk[0]["p_failure"] == table["p_failure"].max()


def test_predict_every_row_and_the_table_view(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "every.csv"
    result = runner.invoke(app, ["rul", "predict", "--model", str(files["model"]), "--input", str(files["now"]),
                                 "--out", str(out), "--every-row"])
    assert result.exit_code == 0, result.stderr
    assert "Units most at risk" in result.stdout and "P(failure within 30)" in result.stdout
    assert len(pd.read_csv(out)) == len(pd.read_csv(files["now"]))


def test_train_on_a_cmapss_file(tmp_path: Path) -> None:
    train, _ = make_fleet(10, seed=23)
    write_cmapss(train, tmp_path / "train_FD.txt")
    result = runner.invoke(app, ["rul", "train", "--input", str(tmp_path / "train_FD.txt"), "--format", "cmapss",
                                 "--out", str(tmp_path / "m.json"), "--folds", "2", "--json"])
    assert result.exit_code == 0, result.stderr
    assert _last_json(result.stdout)["units"] == 10


@pytest.mark.parametrize(("args", "message"), [
    (["--exclude", ""], "not numeric"),  # the text column 'site'
    (["--exclude", "site", "--unit-col", "engine"], "no unit column 'engine'"),
    (["--exclude", "site", "--sep", ";"], "column(s) read with separator ';'"),
    (["--exclude", "site", "--format", "cmapss"], "expected 26 columns"),
    (["--exclude", "site", "--format", "parquet"], "unknown format"),
    (["--exclude", "site", "--level", "1.5"], "level must be in (0, 1)"),
    (["--exclude", "site", "--folds", "1"], "folds must be >= 2"),
])
def test_train_errors_are_one_line(files: dict[str, Path], tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["rul", "train", "--input", str(files["train"]), "--out", str(tmp_path / "m.json"),
                                 *args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert not (tmp_path / "m.json").exists()


def test_predict_errors_are_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    not_model = tmp_path / "x.json"
    not_model.write_text('{"format": "something else"}')
    no_sensor = tmp_path / "short.csv"
    pd.read_csv(files["now"]).drop(columns="sensor_1").to_csv(no_sensor, index=False)
    cases = [
        (["--model", str(tmp_path / "missing.json"), "--input", str(files["now"])], "no such model file"),
        (["--model", str(not_model), "--input", str(files["now"])], "a RUL model file is made by"),
        (["--model", str(files["model"]), "--input", str(no_sensor)], "lack column(s) the model was trained on"),
        (["--model", str(files["model"]), "--input", str(files["now"]), "--within", "-1"], "horizon must be"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["rul", "predict", *args, "--out", str(tmp_path / "p.csv")])
        assert result.exit_code == 1, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
