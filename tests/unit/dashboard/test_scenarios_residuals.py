"""The Scenarios page's residuals card, its pure parts: the verdict, the statistics and episode rows (timestamps when
the CSV had them), the residual chart's marks, and the time column shared with the calibration card."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from tvilling.core.errors import ValidationError
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages import scenarios_measurements as sm
from tvilling.dashboard.pages import scenarios_residuals as sres

ORIGIN = datetime(2026, 11, 20, tzinfo=UTC)


def answer(episodes: list[dict[str, Any]], anomalous: list[int], n: int = 40, ref: int = 10) -> dict[str, Any]:
    """A residual analysis' answer (``ResidualReport.as_dict``) over n rows 100 s apart."""
    flags = [i in anomalous for i in range(n)]
    return {"time": [100.0 * i for i in range(n)], "referenceRows": ref,
            "measured": {"T": [20.0] * (n - 1) + [None]}, "model": {"T": [19.9] * n},
            "residual": {"T": [0.1] * (n - 1) + [None]}, "score": [2.0 if f else 0.1 for f in flags],
            "anomalous": flags, "units": {"T": "degC"}, "anomalousRows": sum(flags[ref:]),
            "charts": {"ewmaWeight": 0.1, "ewmaLimit": 4.0, "pointLimit": 5.0},
            "stats": {"T": {"biasReference": -8.1e-05, "rmseReference": 0.093652, "biasAfter": -0.034983,
                            "rmseAfter": 0.481931, "maxAbsAfter": None, "anomalousRowsAfter": 3.0}},
            "episodes": episodes}


FAULT = {"start": 2000.0, "end": 2200.0, "rows": 3, "peakScore": 12.699, "outputs": ["T"], "afterReference": True,
         "meanResidual": {"T": -0.109037}}
EARLY = {"start": 200.0, "end": 200.0, "rows": 1, "peakScore": 1.2, "outputs": ["T"], "afterReference": False,
         "meanResidual": {"T": 0.5}}


def test_the_verdict_counts_the_episodes_after_the_reference_and_names_the_first() -> None:
    result = answer([FAULT], [20, 21, 22])
    assert sres.verdict(result, ORIGIN) == ("1 episode after the reference, the first from 2026-11-20T00:33:20Z on T: "
                                            "the asset no longer behaves like its model (3 anomalous rows)")
    assert "the first from 2000 s on T" in sres.verdict(result, None)
    healthy = answer([], [])
    assert sres.verdict(healthy, ORIGIN) == "No episode after the reference: the asset behaves like its model"
    # An episode inside the reference is no fault after it, but it is said: the reference may not be healthy.
    early = sres.verdict(answer([EARLY], [2]), ORIGIN)
    assert early.startswith("No episode after the reference") and "1 episode within the reference itself" in early


def test_episode_and_stats_rows() -> None:
    result = answer([EARLY, FAULT], [2, 20, 21, 22])
    rows = sres.episode_rows(result, ORIGIN)
    assert rows == [{"key": 1, "start": "2026-11-20T00:33:20Z", "end": "2026-11-20T00:36:40Z", "rows": 3,
                     "peak": "12.7×", "outputs": "T", "mean": "T -0.109 degC"}]
    assert sres.episode_rows(result, None)[0]["start"] == "2000 s"
    assert sres.stats_rows(result) == [{"key": "T", "output": "T", "unit": "degC", "biasReference": "-8.1e-05",
                                        "rmseReference": "0.09365", "biasAfter": "-0.03498", "rmseAfter": "0.4819",
                                        "maxAbsAfter": "–", "anomalous": 3}]
    summary = sres.summary(result, ORIGIN, 1.23)
    assert summary.startswith("40 samples compared · healthy reference: the first 10 rows, to 2026-11-20T00:15:00Z")
    assert summary.endswith("at 4 and single residuals at 5 reference spreads · 1.2 s")
    assert sres.axis_name(result, ORIGIN) == "time [s] from 2026-11-20T00:00:00Z"


def test_the_residual_chart_marks_anomalous_rows_episodes_and_the_end_of_the_reference() -> None:
    result = answer([EARLY, FAULT], [2, 20, 21, 22])
    options = sc.residual_options("T", "degC", result)
    line, dots = options["series"]
    assert (line["name"], len(line["data"]), dots["name"]) == ("residual", 40, "anomalous")
    assert line["data"][-1] == [3900.0, None]  # a missing residual is a gap
    assert dots["data"] == [[200.0, 0.1], [2000.0, 0.1], [2100.0, 0.1], [2200.0, 0.1]]
    # bands half a row wider on each side: a one-row episode is visible too
    assert line["markArea"]["data"] == [[{"xAxis": 150.0}, {"xAxis": 250.0}], [{"xAxis": 1950.0}, {"xAxis": 2250.0}]]
    assert line["markLine"]["data"] == [{"xAxis": 900.0}]
    assert options["yAxis"]["name"] == "T residual [degC]"
    measured = sc.measured_options("T", "degC", result["time"], result["measured"]["T"], result["model"]["T"],
                                   model_label="model")
    assert [(s["name"], len(s["data"])) for s in measured["series"]] == [("measured", 39), ("model", 40)]


def test_the_time_column_gives_seconds_and_the_origin_of_timestamps() -> None:
    frame = pd.DataFrame({"timestamp": ["2026-11-20T00:00:00Z", "2026-11-20T00:05:00Z"], "t": [0, 300]})
    assert sm.clock(frame, "timestamp") == ([0.0, 300.0], ORIGIN)
    assert sm.clock(frame, "t") == ([0.0, 300.0], None)
    with pytest.raises(ValidationError, match="neither seconds nor ISO 8601 times"):
        sm.clock(pd.DataFrame({"x": ["soon", "later"]}), "x")
