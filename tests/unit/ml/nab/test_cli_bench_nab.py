"""``tvilling bench nab`` on a tiny synthetic corpus (and one real NAB file when the shared data is there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tvilling.cli.main import app

SHARED_NAB = Path(__file__).resolve().parents[4].parent / "shared/datasets/nab"


def _write_corpus(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    data = root / "data"
    labels: dict[str, list[list[str]]] = {}
    for cat, name, spike in [("synth", "spiky.csv", 700), ("synth", "calm.csv", None), ("other", "step.csv", 600)]:
        n = 1000
        ts = pd.date_range("2020-01-01", periods=n, freq="5min")
        v = 10 + np.sin(np.arange(n) / 20) + rng.normal(0, 0.1, n)
        windows = []
        if spike is not None:
            if name == "step.csv":
                v[spike:] += 8
            else:
                v[spike] += 15
            windows.append([str(ts[spike - 25]) + ".000000", str(ts[spike + 25]) + ".000000"])
        (data / cat).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"timestamp": ts.astype(str), "value": v}).to_csv(data / cat / name, index=False)
        labels[f"{cat}/{name}"] = windows
    label_file = root / "windows.json"
    label_file.write_text(json.dumps(labels))
    return data, label_file


def test_bench_nab_writes_nab_layout_and_scores(tmp_path: Path) -> None:
    data, labels = _write_corpus(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["bench", "nab", "--data", str(data), "--labels", str(labels),
                                   "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    for key in ("standard", "reward_low_fp", "reward_low_fn"):
        assert isinstance(summary[key], float)
    # both anomalies are obvious: caught early in their windows, with few false positives
    assert summary["detected_windows"] == 2
    assert summary["standard"] > 80
    result_file = out / "tvilling" / "synth" / "tvilling_spiky.csv"
    df = pd.read_csv(result_file)
    assert list(df.columns) == ["timestamp", "value", "anomaly_score"]
    assert len(df) == 1000 and df["anomaly_score"].between(0, 1).all()
    assert (out / "tvilling" / "other" / "tvilling_step.csv").is_file()


def test_null_detector_scores_zero(tmp_path: Path) -> None:
    data, labels = _write_corpus(tmp_path)
    res = CliRunner().invoke(app, ["bench", "nab", "--data", str(data), "--labels", str(labels),
                                   "--out", str(tmp_path / "o"), "--detector", "null", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["standard"] == summary["reward_low_fp"] == summary["reward_low_fn"] == 0.0


def test_missing_data_is_one_line_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["bench", "nab", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert res.stderr.strip().startswith("error:") and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not (SHARED_NAB / "data/realKnownCause/nyc_taxi.csv").is_file(), reason="no NAB data")
def test_real_nab_file(tmp_path: Path) -> None:
    labels = json.loads((SHARED_NAB / "labels/combined_windows.json").read_text())
    name = "realKnownCause/nyc_taxi.csv"
    small = tmp_path / "labels.json"
    small.write_text(json.dumps({name: labels[name]}))
    res = CliRunner().invoke(app, ["bench", "nab", "--data", str(SHARED_NAB / "data"), "--labels", str(small),
                                   "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["files"] == 1 and summary["windows"] == 5 and summary["points"] == 10320
    assert -200 < summary["standard"] <= 100


def test_moving_zscore_baseline_is_causal_and_flags_a_spike() -> None:
    from tvilling.cli.bench_nab import moving_zscore_scores

    rng = np.random.default_rng(5)
    v = rng.normal(0.0, 1.0, 500)
    w = v.copy()
    w[400] += 20.0
    a, b = moving_zscore_scores(v), moving_zscore_scores(w)
    np.testing.assert_array_equal(a[:400], b[:400])  # the future does not change the past
    assert (a[:100] == 0.0).all() and int(np.argmax(b)) == 400
    assert ((b >= 0.0) & (b < 1.0)).all()
