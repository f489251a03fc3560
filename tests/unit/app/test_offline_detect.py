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


def _european(df: pd.DataFrame) -> bytes:
    """The table as a European spreadsheet writes it: ';' between fields, a decimal comma."""
    return str(df.to_csv(sep=";", index=False, decimal=",")).encode()


def test_a_decimal_comma_table_is_read_with_the_decimal_mark_and_explained_without_it() -> None:
    df = pump_rig()
    raw = _european(df)
    options = DetectOptions(sep=";", decimal=",", time_col="datetime", train_rows=400, label_col="anomaly")
    report = detect(read_table(raw, ";", decimal=","), options)
    reference = detect(df, options)
    assert report.columns == reference.columns
    assert np.array_equal(report.result.is_anomaly, reference.result.is_anomaly)
    assert report.summary()["ignored_columns"] == {"datetime": "time column", "anomaly": "label column"}
    with pytest.raises(ValidationError) as err:  # the decimal mark left at '.': no column is numeric
        detect(read_table(raw, ";"), DetectOptions(sep=";", time_col="datetime", exclude=["anomaly"]))
    assert "decimal comma" in err.value.hint
    partly = df.assign(flow_m3h=df["flow_m3h"].map(lambda v: f"{v:.3f}".replace(".", ",")))
    why = detect(partly, DetectOptions(time_col="datetime", label_col="anomaly")).summary()["ignored_columns"]
    assert "decimal comma" in why["flow_m3h"]
    with pytest.raises(ValidationError, match="decimal mark"):
        DetectOptions(sep=",", decimal=",").check()


def test_true_false_columns_are_signals_and_text_columns_are_named_with_why() -> None:
    df = pump_rig().assign(valve_open=lambda d: d.index % 300 < 150, site="north")
    report = detect(df, DetectOptions(time_col="datetime", train_rows=400, label_col="anomaly"))
    assert "valve_open" in report.columns
    assert report.summary()["ignored_columns"]["site"] == "not numeric (e.g. 'north')"
