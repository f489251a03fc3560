"""``tvilling bench rul`` on tiny C-MAPSS-format files written from the synthetic fleet."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.unit.ml.rul.fleet import make_fleet
from tvilling.cli.main import app

runner = CliRunner()


def _write(frame: pd.DataFrame, path: Path) -> None:
    # Pad to the 26 C-MAPSS columns and keep the original's trailing spaces.
    full = frame.copy()
    for i in range(9, 22):
        full[f"sensor_{i}"] = 1.0
    path.write_text("\n".join(" ".join(f"{v:g}" for v in row) + "  " for row in full.to_numpy()) + "\n")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cmapss")
    train, _ = make_fleet(12, seed=11)
    test, truth = make_fleet(8, seed=12, truncate=True)
    paths = {"train": d / "train.txt", "test": d / "test.txt", "truth": d / "rul.txt"}
    _write(train, paths["train"])
    _write(test, paths["test"])
    paths["truth"].write_text("\n".join(f"{int(v)}" for v in truth) + "\n")
    return paths


def _args(files: dict[str, Path], **over: Path) -> list[str]:
    p = {**files, **over}
    return ["bench", "rul", "--train", str(p["train"]), "--test", str(p["test"]), "--truth", str(p["truth"]),
            "--cap", "60", "--folds", "2"]


def test_bench_rul_json(files: dict[str, Path]) -> None:
    result = runner.invoke(app, [*_args(files), "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("rmse", "score", "rmse_capped", "score_capped", "units", "fit_seconds", "interval_coverage",
                "n_bags"):
        assert key in out
    assert out["units"] == 8
    truth = np.loadtxt(files["truth"])
    # The truth here is below 125, so capping it changes nothing.
    assert truth.max() < 125 and out["rmse"] == pytest.approx(out["rmse_capped"])
    assert 0 < out["rmse"] < 3 * truth.std() + 5


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing", None, "no such file"),
    ("short", "1 1 0.1 0.2\n", "expected 26 columns"),
    ("text", "a b c\n", "expected 26 columns"),
    ("empty", "", "not a C-MAPSS file"),
])
def test_bad_train_file_is_one_line_error(files: dict[str, Path], tmp_path: Path, name: str,
                                         content: str | None, message: str) -> None:
    bad = tmp_path / f"{name}.txt"
    if content is not None:
        bad.write_text(content)
    result = runner.invoke(app, [*_args(files, train=bad), "--json"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_truth_count_mismatch_is_reported(files: dict[str, Path], tmp_path: Path) -> None:
    short = tmp_path / "rul.txt"
    short.write_text("5\n6\n")
    result = runner.invoke(app, _args(files, truth=short))
    assert result.exit_code != 0
    assert "2 values for 8 test units" in result.stderr
