"""Offline anomaly detection on a CSV table: what ``tvilling detect``, ``POST /api/v1/detect`` and the dashboard's
Detect page share — reading the table, choosing its signals, running :func:`detect_table` and summarising it.

Every numeric column but the time column and the excluded ones is a signal; the first ``train_rows`` rows are
taken as normal operation (docs/predictive.md). Bad input raises :class:`ValidationError` saying what is wrong,
where, and how to fix it; each front-end turns that into its own form (one CLI line, problem+json, a message).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tvilling.core.errors import ValidationError
from tvilling.ml.anomaly.offline import DetectionResult, Mapper, detect_table

TIME_NAMES = ("timestamp", "time", "datetime", "date", "ts")
MAX_EPISODES = 100  # the summary lists at most this many episodes (the row flags hold them all)
DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")  # "3,75": a number written with a decimal comma


@dataclass(frozen=True)
class DetectOptions:
    sep: str = ","
    decimal: str = "."  # "," for tables written with a decimal comma (then the separator is usually ";")
    time_col: str | None = None  # None: the first column named like a time (TIME_NAMES), if any
    exclude: Sequence[str] = ()
    train_rows: int | None = None  # None: 20 % of the rows
    ewma: float = 0.1
    # A column of known labels (1 / true: anomalous), e.g. SKAB's ``anomaly``: never a signal; the summary then
    # scores the flags against it.
    label_col: str | None = None

    def check(self) -> None:
        if self.train_rows is not None and self.train_rows < 0:
            raise ValidationError("train_rows must be >= 0", where="train_rows",
                                  hint="give the number of leading rows that are normal operation")
        if not 0.0 <= self.ewma < 1.0:
            raise ValidationError(f"ewma must be in [0, 1), got {self.ewma}", where="ewma",
                                  hint="0.1 is the default, 0 turns the lasting-shift chart off")
        if not self.sep:
            raise ValidationError("the field separator is empty", where="sep", hint="e.g. ',' or ';'")
        if len(self.decimal) != 1 or self.decimal == self.sep:
            raise ValidationError(f"the decimal mark must be one character other than the separator, got "
                                  f"{self.decimal!r}", where="decimal", hint="'.' (default) or ','")


@dataclass
class DetectReport:
    """The scored table: per row its time, score and flag; the summary the front-ends show."""

    columns: list[str]
    time_col: str | None
    times: list[Any]
    result: DetectionResult
    episodes: list[dict[str, Any]] = field(default_factory=list)
    labels: npt.NDArray[np.bool_] | None = None
    ignored: dict[str, str] = field(default_factory=dict)  # column -> why it is not a signal

    @property
    def rows(self) -> int:
        return len(self.times)

    def summary(self) -> dict[str, Any]:
        anomalies = int(self.result.is_anomaly.sum())
        return {"rows": self.rows, "columns": self.columns, "time_col": self.time_col,
                "train_rows": self.result.train_rows, "threshold": round(self.result.threshold, 6),
                "anomalies": anomalies, "anomaly_rate": round(anomalies / max(self.rows, 1), 6),
                "ignored_columns": self.ignored, "episodes": self.episodes,
                **({"evaluation": self.evaluation()} if self.labels is not None else {})}

    def evaluation(self) -> dict[str, Any]:
        """The flags against the label column, row by row over the rows after the training rows (those are
        taken as normal and fitted on): precision, recall, F1, the false-alarm rate (flagged share of normal
        rows) and the missed-alarm rate (unflagged share of anomalous rows), as SKAB reports them."""
        assert self.labels is not None
        start = self.result.train_rows
        flags, truth = self.result.is_anomaly[start:], self.labels[start:]
        tp, fp = int((flags & truth).sum()), int((flags & ~truth).sum())
        fn, normal = int((~flags & truth).sum()), int((~truth).sum())
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else (
            0.0 if precision is not None and recall is not None else None)
        return {"rows": len(flags), "anomalous_rows": tp + fn, "true_positives": tp, "false_positives": fp,
                "false_negatives": fn, "precision": _round(precision), "recall": _round(recall), "f1": _round(f1),
                "false_alarm_rate": _round(fp / normal if normal else None),
                "missed_alarm_rate": _round(fn / (tp + fn) if tp + fn else None)}

    def frame(self) -> pd.DataFrame:
        """The output CSV's table: time column (``row`` when there is none), ``anomaly_score``, ``is_anomaly``."""
        return pd.DataFrame({self.time_col or "row": self.times,
                             "anomaly_score": np.round(self.result.scores, 6),
                             "is_anomaly": self.result.is_anomaly.astype(int)})

    def csv_bytes(self) -> bytes:
        return str(self.frame().to_csv(index=False)).encode()


def read_table(source: Path | bytes, sep: str, *, name: str = "", decimal: str = ".") -> pd.DataFrame:
    """The CSV at ``source`` (a path or its bytes); ``name`` says which input in error messages."""
    label = name or (str(source) if isinstance(source, Path) else "the CSV")
    if isinstance(source, Path) and not source.is_file():
        raise ValidationError(f"input file not found: {source}", where=str(source), hint="check the path")
    if isinstance(source, bytes) and not source.strip():
        raise ValidationError(f"{label} is empty", where=label, hint="send the CSV itself: a header row, then data")
    try:
        # A separator of more than one byte needs pandas' python engine (the C engine would warn and switch).
        engine = "python" if len(sep.encode()) > 1 else "c"
        df = pd.read_csv(source if isinstance(source, Path) else io.BytesIO(source), sep=sep, engine=engine,
                         decimal=decimal)
    except (OSError, ValueError, re.error, csv.Error, pd.errors.ParserError) as exc:
        raise ValidationError(f"cannot read {label}: {exc}", where=label,
                              hint="a CSV with a header row; check the separator") from exc
    if df.empty:
        raise ValidationError(f"{label} has no data rows", where=label, hint="a header row, then one row per time step")
    return df


def choose_signals(df: pd.DataFrame, options: DetectOptions, *, name: str = "the CSV") -> tuple[str | None, list[str]]:
    """The time column (or None) and the signal columns: numeric or true/false, not the time column, not
    excluded, not the label column."""
    excluded = [c.strip() for c in options.exclude if c.strip()]
    if options.label_col is not None:
        if options.label_col not in df.columns:
            raise ValidationError(f"label column {options.label_col!r} not found; columns are: "
                                  f"{', '.join(map(str, df.columns))}", where="label_col")
        excluded.append(options.label_col)
    missing = [c for c in excluded if c not in df.columns]
    if missing:
        raise ValidationError(f"excluded column(s) not found: {', '.join(missing)}", where="exclude",
                              hint=f"columns are: {', '.join(map(str, df.columns))}")
    if options.time_col is not None:
        if options.time_col not in df.columns:
            raise ValidationError(f"time column {options.time_col!r} not found; columns are: "
                                  f"{', '.join(map(str, df.columns))}", where="time_col")
        tcol: str | None = options.time_col
    else:
        tcol = next((str(c) for c in df.columns if str(c).strip().lower() in TIME_NAMES), None)
    numeric = [str(c) for c in df.select_dtypes(include=["number", "bool"]).columns
               if c not in excluded and c != tcol]
    if not numeric:
        comma = options.decimal == "." and any(_decimal_comma(df[c]) for c in df.columns
                                                if c not in excluded and c != tcol)
        raise ValidationError(f"no numeric columns to analyse in {name} (after excluding "
                              f"{', '.join(excluded) or 'nothing'}; check the separator)", where="columns",
                              hint="the values look like numbers with a decimal comma: set the decimal mark to ','"
                              if comma else "numbers with '.' as the decimal point, one column per signal")
    return tcol, numeric


def detect(df: pd.DataFrame, options: DetectOptions, *, name: str = "the CSV", mapper: Mapper = map) -> DetectReport:
    """Score every row of ``df``. ``mapper`` runs the streaming scorers (a process pool's ``map`` to run them in
    parallel; identical results)."""
    options.check()
    tcol, numeric = choose_signals(df, options, name=name)
    values: npt.NDArray[np.float64] = df[numeric].to_numpy(dtype=np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan  # an infinite reading is a bad value: treated as missing, like NaN
    result = detect_table(values, numeric, train_rows=options.train_rows, ewma=options.ewma, mapper=mapper)
    ignored = {str(c): _why_not_a_signal(df[c], str(c), options, tcol) for c in df.columns if str(c) not in numeric}
    times = [_plain(v) for v in (df[tcol].tolist() if tcol is not None else range(len(df)))]
    episodes = [{"since": times[int(a.since)], "last": times[int(a.last)],  # type: ignore[call-overload]
                 "peak_score": round(a.peak_score, 6), "signals": list(a.signals), "reasons": reasons}
                for a, reasons in zip(result.alerts[:MAX_EPISODES], result.alert_reasons, strict=False)]
    return DetectReport(numeric, tcol, times, result, episodes, _labels(df, options.label_col), ignored)


def _why_not_a_signal(col: pd.Series, name: str, options: DetectOptions, tcol: str | None) -> str:
    """Why a column is left out, in words a user can act on."""
    if name == tcol:
        return "time column"
    if name == options.label_col:
        return "label column"
    if name in [c.strip() for c in options.exclude]:
        return "excluded"
    values = col.dropna().astype(str)
    if values.empty:
        return "empty"
    if options.decimal == "." and _decimal_comma(col):
        return f"not numeric: numbers with a decimal comma (e.g. {values.iloc[0]!r})? set the decimal mark to ','"
    return f"not numeric (e.g. {values.iloc[0][:40]!r})"


def _decimal_comma(col: pd.Series) -> bool:
    """Whether most of a text column's first values read like numbers with a decimal comma ("3,75")."""
    sample = col.dropna().astype(str).head(50)
    return bool(len(sample)) and float(sample.map(lambda v: bool(DECIMAL_COMMA.match(v))).mean()) > 0.5


def _labels(df: pd.DataFrame, column: str | None) -> npt.NDArray[np.bool_] | None:
    """The label column as booleans: numbers (non-zero: anomalous) or true/false words; anything else is an
    error naming the first bad row."""
    if column is None:
        return None
    col = df[column]
    words = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
    as_num = pd.to_numeric(col, errors="coerce")
    parsed = as_num.ne(0).where(as_num.notna(), col.astype(str).str.strip().str.lower().map(words))
    bad = parsed.isna() | col.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValidationError(f"label column {column!r} has a value that is not a label at data row {row + 1}: "
                              f"{col.iloc[row]!r}", where=f"{column}[{row + 1}]",
                              hint="1 / 0 or true / false on every row")
    labels: npt.NDArray[np.bool_] = parsed.astype(bool).to_numpy()
    return labels


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
