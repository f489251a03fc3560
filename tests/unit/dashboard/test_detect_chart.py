"""The Detect page's chart: a long table is drawn in buckets without losing a flag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvilling.app.offline_detect import DetectOptions, detect
from tvilling.dashboard.pages.detect import CHART_POINTS, chart_options


def test_a_long_table_is_bucketed_and_keeps_every_flag_and_the_peak() -> None:
    rng = np.random.default_rng(0)
    n = 3 * CHART_POINTS + 7
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df.loc[9000, "a"] += 25  # one spike, deep inside a bucket
    report = detect(df, DetectOptions(train_rows=2000))
    options = chart_options(report)
    line, flagged = options["series"][0]["data"], options["series"][1]["data"]
    assert len(line) <= CHART_POINTS and len(options["xAxis"]["data"]) == len(line)
    assert max(line) == round(float(report.result.scores.max()), 4)
    step = -(-n // CHART_POINTS)
    flagged_buckets = {i // step for i in np.flatnonzero(report.result.is_anomaly)}
    assert len(flagged) == len(flagged_buckets) and str(9000 // step * step) in {p[0] for p in flagged}


def test_a_short_table_is_drawn_row_by_row() -> None:
    df = pd.DataFrame({"a": np.sin(np.arange(500) / 10.0), "b": np.cos(np.arange(500) / 10.0)})
    report = detect(df, DetectOptions(train_rows=200))
    options = chart_options(report)
    assert len(options["series"][0]["data"]) == 500
    assert options["series"][0]["markArea"]["data"][0][1]["xAxis"] == "199"  # the last training row
    assert chart_options(None)["series"] == []
