"""The code behind ``tvilling detect``, ``POST /api/v1/detect`` and the dashboard's Detect page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.samples import pump_rig
from tvilling.app.offline_detect import DetectOptions, detect, read_table
from tvilling.core.errors import ValidationError


def test_the_label_column_is_never_a_signal_and_scores_the_flags() -> None:
    df = pump_rig()
    report = detect(df, DetectOptions(time_col="datetime", train_rows=400, label_col="anomaly"))
    assert "anomaly" not in report.columns and len(report.columns) == 7
    ev = report.summary()["evaluation"]
    flags, truth = report.result.is_anomaly[400:], df["anomaly"].to_numpy().astype(bool)[400:]
    assert ev["rows"] == 1000 and ev["anomalous_rows"] == int(truth.sum())
    assert ev["true_positives"] == int((flags & truth).sum()) and ev["false_positives"] == int((flags & ~truth).sum())
    tp, fp, fn = ev["true_positives"], ev["false_positives"], ev["false_negatives"]
    assert ev["precision"] == round(tp / (tp + fp), 4) and ev["recall"] == round(tp / (tp + fn), 4)
    assert ev["false_alarm_rate"] == round(fp / int((~truth).sum()), 4)
    assert ev["missed_alarm_rate"] == round(fn / (tp + fn), 4)
    assert ev["f1"] > 0.9  # the README's rig: the strainer fault and the spike, few false alarms
    plain = detect(df, DetectOptions(time_col="datetime", train_rows=400, exclude=["anomaly"]))
    assert "evaluation" not in plain.summary()
    assert np.array_equal(plain.result.is_anomaly, report.result.is_anomaly)  # labels change nothing detected


def test_labels_may_be_words_and_a_bad_one_is_named_with_its_row() -> None:
    df = pump_rig()
    words = df.assign(anomaly=df["anomaly"].map({0: "false", 1: "True"}))
    options = DetectOptions(time_col="datetime", train_rows=400, label_col="anomaly")
    assert detect(words, options).summary()["evaluation"] == detect(df, options).summary()["evaluation"]
    bad = df.astype({"anomaly": object})
    bad.loc[6, "anomaly"] = "maybe"
    with pytest.raises(ValidationError, match=r"not a label at data row 7: 'maybe'"):
        detect(bad, options)
    with pytest.raises(ValidationError, match="label column 'label' not found"):
        detect(df, DetectOptions(label_col="label"))


def test_infinite_readings_are_missing_and_a_table_in_memory_is_not_changed() -> None:
    df = pump_rig()
    df.loc[500, "flow_m3h"] = np.inf
    report = detect(df, DetectOptions(time_col="datetime", train_rows=400, exclude=["anomaly"]))
    assert report.rows == 1400 and df.loc[500, "flow_m3h"] == np.inf


def test_unreadable_tables_say_what_and_how_to_fix() -> None:
    with pytest.raises(ValidationError, match="is empty"):
        read_table(b"  \n", ",", name="the upload")
    with pytest.raises(ValidationError, match="cannot read the upload") as err:
        read_table(b"a,b\n1,2\n3,4,5,6,7\n", ",", name="the upload")
    assert "separator" in err.value.hint
    with pytest.raises(ValidationError, match="no numeric columns"):
        detect(pd.DataFrame({"name": ["a", "b"]}), DetectOptions())
