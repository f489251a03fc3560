"""Run ``tvilling bench nab --detector NAME`` on the small synthetic corpus of the NAB CLI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from tests.unit.ml.nab.test_cli_bench_nab import _write_corpus
from tvilling.cli.main import app


def run_bench_nab(tmp_path: Path, detector: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """The CLI's summary and the result file of the spiky stream, after checking the run succeeded."""
    data, labels = _write_corpus(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["bench", "nab", "--detector", detector, "--data", str(data),
                                   "--labels", str(labels), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["detector"] == detector and summary["points"] == 3000
    return summary, pd.read_csv(out / detector / "synth" / f"{detector}_spiky.csv")
