"""``tvilling detect`` end to end on small CSVs, including its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tvilling.cli.main import app


def _csv(path: Path, sep: str = ",") -> Path:
    rng = np.random.default_rng(0)
    n = 1200
    a = rng.normal(0, 1, n)
    b = 2 * a + rng.normal(0, 0.1, n)
    b[900:905] = -b[900:905]
    pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n, freq="min").astype(str), "a": a, "b": b,
                  "asset": "pump-1", "counter": np.arange(n)}).to_csv(path, index=False, sep=sep)
    return path


def test_detect_writes_one_row_per_input_row(tmp_path: Path) -> None:
    src, out = _csv(tmp_path / "in.csv", sep=";"), tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["detect", "--input", str(src), "--sep", ";", "--time-col", "ts",
                                   "--exclude", "counter", "--train-rows", "400", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["columns"] == ["a", "b"] and summary["train_rows"] == 400
    df = pd.read_csv(out)
    assert list(df.columns) == ["ts", "anomaly_score", "is_anomaly"] and len(df) == 1200
    assert set(df["is_anomaly"].unique()) <= {0, 1}
    assert df["is_anomaly"].iloc[900] == 1
    assert df["is_anomaly"].iloc[:900].sum() <= 5
    assert any(e["since"] == "2024-01-01 15:00:00" for e in summary["episodes"])
    assert all(e["reasons"] and set(e["reasons"]) <= {"level", "relationship", "lasting_level",
                                                      "lasting_relationship", "streaming", "streaming_correlation"}
               for e in summary["episodes"])


def test_detect_worker_pool_gives_the_same_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a process pool (forced on this small table) the output file is byte for byte the sequential one."""
    import tvilling.cli.detect as cli_detect
    src = _csv(tmp_path / "in.csv")
    outs = []
    for workers in ("1", "2"):
        monkeypatch.setattr(cli_detect, "POOL_MIN_VALUES", 0)
        out = tmp_path / f"out{workers}.csv"
        res = CliRunner().invoke(app, ["detect", "--input", str(src), "--exclude", "counter", "--train-rows", "400",
                                       "--workers", workers, "--out", str(out)])
        assert res.exit_code == 0, res.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0].count(b"\n") == 1201


def _err(args: list[str]) -> str:
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    return lines[0]


def test_detect_errors(tmp_path: Path) -> None:
    src, out = _csv(tmp_path / "in.csv"), str(tmp_path / "o.csv")
    assert "not found" in _err(["detect", "--input", str(tmp_path / "missing.csv"), "--out", out])
    assert "zz" in _err(["detect", "--input", str(src), "--out", out, "--exclude", "zz"])
    assert "nope" in _err(["detect", "--input", str(src), "--out", out, "--time-col", "nope"])
    assert "no numeric" in _err(["detect", "--input", str(src), "--out", out, "--exclude", "a,b,counter"])
    assert "--workers must be >= 1" in _err(["detect", "--input", str(src), "--out", out, "--workers", "0"])
    assert "--ewma must be in [0, 1)" in _err(["detect", "--input", str(src), "--out", out, "--ewma", "1.5"])


def test_the_readme_pump_example_runs(tmp_path: Path) -> None:
    """The README's example, as a newcomer runs it: the sample script, then ``tvilling detect`` on its file. On
    its default seed the strainer fault and the spike are flagged with few false alarms (other seeds do worse;
    docs/predictive.md, round 6)."""
    import subprocess
    import sys
    src, out = tmp_path / "pump.csv", tmp_path / "scores.csv"
    root = Path(__file__).resolve().parents[4]
    subprocess.run([sys.executable, str(root / "examples" / "detect" / "make_sample.py"), str(src)], check=True,
                   capture_output=True)
    res = CliRunner().invoke(app, ["detect", "--input", str(src), "--sep", ";", "--time-col", "datetime",
                                   "--label-col", "anomaly", "--train-rows", "400", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    flags = pd.read_csv(out)["is_anomaly"].to_numpy()
    truth = pd.read_csv(src, sep=";")["anomaly"].to_numpy().astype(bool)
    assert len(flags) == 1400 and flags[700:1000].mean() > 0.8 and flags[1150] == 1
    assert flags[400:][~truth[400:]].mean() < 0.05
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    fault = [e for e in summary["episodes"] if "pressure_bar" in e["signals"] or "flow_m3h" in e["signals"]]
    assert fault and any(r in ("relationship", "lasting_relationship") for e in fault for r in e["reasons"])


def test_a_label_column_scores_the_flags_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    """SKAB-style files carry their labels: ``--label-col`` keeps the column out of the signals and reports
    precision, recall, F1, false and missed alarms after the training rows."""
    import subprocess
    import sys
    src, out = tmp_path / "pump.csv", tmp_path / "scores.csv"
    root = Path(__file__).resolve().parents[4]
    subprocess.run([sys.executable, str(root / "examples" / "detect" / "make_sample.py"), str(src)], check=True,
                   capture_output=True)
    args = ["detect", "--input", str(src), "--sep", ";", "--train-rows", "400", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--label-col", "anomaly", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert "anomaly" not in summary["columns"]
    ev = summary["evaluation"]
    assert ev["rows"] == 1000 and ev["f1"] > 0.9 and ev["false_alarm_rate"] < 0.05
    text = CliRunner().invoke(app, [*args, "--label-col", "anomaly"])
    assert text.exit_code == 0 and "F1 " in text.stdout
    assert "label column 'nope' not found" in _err([*args, "--label-col", "nope"])


def test_a_decimal_comma_file_is_read_with_decimal_and_explained_without(tmp_path: Path) -> None:
    from tests.support.samples import pump_rig
    src, out = tmp_path / "eu.csv", tmp_path / "scores.csv"
    pump_rig().to_csv(src, sep=";", index=False, decimal=",")
    args = ["detect", "--input", str(src), "--sep", ";", "--label-col", "anomaly", "--train-rows", "400",
            "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--decimal", ",", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["evaluation"]["f1"] > 0.9
    assert "decimal comma" in _err(args)
