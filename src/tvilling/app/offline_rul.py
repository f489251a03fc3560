"""Remaining useful life from files: train the default estimator on a fleet's run-to-failure histories, store it
as a model file, and later estimate each unit's RUL (with its interval and P(failure within H)) from its history
so far. What ``tvilling rul train`` and ``tvilling rul predict`` share.

A history table has one row per (unit, time step): the unit id, the time column (cycles, hours, … — any
increasing number), operating settings (columns named ``setting*`` unless given) and sensors (every other
numeric column unless excluded). In training histories a unit's last row is its failure. The model is
:class:`~tvilling.ml.rul.LightGbmRul` with its defaults (the C-MAPSS benchmark's configuration,
docs/benchmarks.md); its file format is :mod:`tvilling.ml.rul.artifact`. Bad input raises
:class:`ValidationError` saying what is wrong and how to fix it.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tvilling.core.errors import ValidationError
from tvilling.ml.ports import RulEstimate
from tvilling.ml.rul import LightGbmRul, Schema
from tvilling.ml.rul.artifact import dump_lgbm_rul, load_lgbm_rul
from tvilling.ml.rul.lgbm import FeatureUnion

CMAPSS_COLUMNS = ["unit", "cycle", "setting_1", "setting_2", "setting_3", *[f"sensor_{i}" for i in range(1, 22)]]
FORMATS = ("csv", "cmapss")
MAX_LISTED = 10  # units listed in a prediction summary (the output table holds them all)


Source = Path | bytes  # a file, or the bytes of one (an HTTP body)


def _open(source: Source) -> Path | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _label(source: Source) -> str:
    return "the request body" if isinstance(source, bytes) else str(source)


def read_whitespace(source: Source, what: str) -> pd.DataFrame:
    """A headerless table of whitespace-separated values (the C-MAPSS files); ``what`` names it in errors."""
    path = _label(source)
    try:
        return pd.read_csv(_open(source), sep=r"\s+", header=None, engine="python")
    except FileNotFoundError:
        raise ValidationError(f"no such file: {path}") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: not {what} ({str(exc).splitlines()[0]})") from None


def read_cmapss(source: Source) -> pd.DataFrame:
    """A C-MAPSS history file: 26 space-separated numeric columns (trailing spaces allowed), no header."""
    path = _label(source)
    frame = read_whitespace(source, "a C-MAPSS file")
    if frame.shape[1] != len(CMAPSS_COLUMNS):
        raise ValidationError(f"{path}: expected {len(CMAPSS_COLUMNS)} columns, found {frame.shape[1]}",
                              hint="a C-MAPSS file has unit, cycle, 3 settings and 21 sensors per line; "
                                   "for another table use --format csv")
    if not all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
        raise ValidationError(f"{path}: non-numeric values")
    frame.columns = CMAPSS_COLUMNS
    frame[["unit", "cycle"]] = frame[["unit", "cycle"]].astype(int)
    return frame


@dataclass(frozen=True)
class HistoryOptions:
    """How to read a history table and which of its columns mean what."""

    format: str = "csv"  # or "cmapss" (then the column options are fixed: unit, cycle, setting_1-3, sensor_1-21)
    sep: str = ","
    unit_col: str = "unit"
    time_col: str = "cycle"
    settings: tuple[str, ...] | None = None  # None: the columns whose name starts with "setting"
    exclude: tuple[str, ...] = ()

    def check(self) -> None:
        if self.format not in FORMATS:
            raise ValidationError(f"unknown format {self.format!r}", where="format", hint="csv or cmapss")
        if not self.sep:
            raise ValidationError("the field separator is empty", where="sep", hint="e.g. ',' or ';'")


def read_histories(source: Source, options: HistoryOptions) -> pd.DataFrame:
    """The table in ``source`` as a DataFrame (columns as in the file, or C-MAPSS's names)."""
    options.check()
    if options.format == "cmapss":
        return read_cmapss(source)
    path = _label(source)
    try:
        frame = pd.read_csv(_open(source), sep=options.sep)
    except FileNotFoundError:
        raise ValidationError(f"no such file: {path}") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})",
                              hint="check --sep; a C-MAPSS .txt file needs --format cmapss") from None
    if frame.shape[1] < 3:
        raise ValidationError(f"{path}: {frame.shape[1]} column(s) read with separator {options.sep!r}",
                              hint="a history needs a unit, a time and at least one sensor column; check --sep")
    return frame


def schema_for(frame: pd.DataFrame, options: HistoryOptions, *, name: str = "input") -> Schema:
    """The explicit column roles of a training table, so that the stored model names every column it reads."""
    columns = [str(c) for c in frame.columns]
    for role, col in (("unit", options.unit_col), ("time", options.time_col)):
        if col not in columns:
            raise ValidationError(f"{name} has no {role} column {col!r}", where=f"{role}_col",
                                  hint=f"columns are {columns[:10]}; name it with --{role}-col")
    unknown = [c for c in (*options.exclude, *(options.settings or ())) if c not in columns]
    if unknown:
        raise ValidationError(f"{name} has no column(s) {unknown}", hint=f"columns are {columns[:10]}")
    rest = [c for c in columns if c not in (options.unit_col, options.time_col, *options.exclude)]
    settings = list(options.settings) if options.settings is not None else [
        c for c in rest if c.lower().startswith("setting")]
    sensors = [c for c in rest if c not in settings]
    text = [c for c in [*settings, *sensors] if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ValidationError(f"{name}: column(s) {text} are not numeric", where=text[0],
                              hint="leave them out with --exclude")
    if not sensors:
        raise ValidationError(f"{name} has no sensor columns", hint="every numeric column but the unit, time, "
                              "settings and excluded ones is a sensor")
    return Schema(unit=options.unit_col, time=options.time_col, settings=tuple(settings), sensors=tuple(sensors))


@dataclass(frozen=True)
class TrainSettings:
    """What ``train`` may change of the estimator's defaults."""

    horizon: float | None = 150.0
    level: float = 0.8
    folds: int = 5
    seed: int = 0

    def check(self) -> None:
        if not 0.0 < self.level < 1.0:
            raise ValidationError(f"level must be in (0, 1), got {self.level}", where="level",
                                  hint="0.8 is the default")
        if self.folds < 2:
            raise ValidationError(f"folds must be >= 2, got {self.folds}", where="folds", hint="5 is the default")
        if self.horizon is not None and not self.horizon > 0:
            raise ValidationError(f"horizon must be > 0, got {self.horizon}", where="horizon",
                                  hint="150 is the default")


def fit_model(frame: pd.DataFrame, schema: Schema, settings: TrainSettings, *,
              source: str, source_sha256: str) -> tuple[bytes, dict[str, Any]]:
    """Fit the default estimator on run-to-failure histories; returns the model file's bytes and a summary (units,
    rows, sensors used and dropped, regimes, cross-validated RMSE, CPU time). The file records the summary and
    where the data came from."""
    settings.check()
    model = replace(LightGbmRul(), schema=schema, horizon=settings.horizon, level=settings.level,
                    n_splits=settings.folds, seed=settings.seed)
    started = time.process_time()
    model.fit(frame)
    cpu = time.process_time() - started
    parts = model.featurizer_.parts if isinstance(model.featurizer_, FeatureUnion) else [model.featurizer_]
    used = list(parts[0].sensors_)
    summary: dict[str, Any] = {
        "units": int(frame[schema.unit].nunique()), "rows": len(frame), "sensors_used": used,
        "sensors_dropped": [s for s in schema.sensors or () if s not in used],
        "settings": list(schema.settings or ()), "regimes": int(parts[0].n_regimes_), "cap": model.cap_,
        "cv_rmse": model.cv_rmse_averaged_ if model.cv_rmse_averaged_ is not None else model.cv_rmse_[model.cap_],
        "cv_folds": settings.folds, "horizon": settings.horizon, "level": settings.level,
        "fit_cpu_seconds": round(cpu, 1),
    }
    provenance = {"trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "source": source,
                  "source_sha256": source_sha256, **summary}
    return dump_lgbm_rul(model, extra={"training": provenance}), summary


def sha256_of(source: Source) -> str:
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest()
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train(path: Path, options: HistoryOptions, settings: TrainSettings) -> tuple[bytes, dict[str, Any]]:
    """:func:`fit_model` on the history file at ``path``."""
    settings.check()
    frame = read_histories(path, options)
    schema = schema_for(frame, options, name=str(path))
    return fit_model(frame, schema, settings, source=path.name, source_sha256=sha256_of(path))


def load_model(path: Path) -> tuple[LightGbmRul, dict[str, Any]]:
    """A model file written by :func:`train`, and its training provenance."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"no such model file: {path}", hint="make one with `tvilling rul train`") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from None
    return load_model_bytes(data)


def load_model_bytes(data: bytes) -> tuple[LightGbmRul, dict[str, Any]]:
    """A model file's bytes as the estimator and its training provenance."""
    model, extra = load_lgbm_rul(data)
    training = extra.get("training", {})
    return model, training if isinstance(training, dict) else {}


def predict(model: LightGbmRul, frame: pd.DataFrame, *, within: float,
            every_row: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Each unit's estimate at its last row (or at every row), with P(failure within ``within``): the table and a
    summary listing the units most at risk."""
    if not np.isfinite(within) or within < 0:
        raise ValidationError(f"the horizon must be a number >= 0, got {within}", where="within",
                              hint="the time span, in the time column's unit, to give P(failure within) for")
    schema = model.schema
    needed = [schema.unit, schema.time, *(schema.settings or ()), *(schema.sensors or ())]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(f"the histories lack column(s) the model was trained on: {missing}",
                              hint="give the same columns as the training table (extra columns are ignored)")
    estimates: list[RulEstimate] = (model.predict_history if every_row else model.predict)(frame[needed])
    at = pd.Series([e.at for e in estimates], dtype=float)
    if pd.api.types.is_integer_dtype(frame[schema.time]):
        at = at.round().astype(np.int64)  # cycles stay whole numbers in the output
    table = pd.DataFrame({
        schema.unit: [e.unit for e in estimates], schema.time: at,
        "rul": [round(e.mean, 3) for e in estimates], "rul_lower": [round(e.lower, 3) for e in estimates],
        "rul_upper": [round(e.upper, 3) for e in estimates], "interval_level": [e.level for e in estimates],
        "within": within, "p_failure": [round(e.prob_failure_within(within), 4) for e in estimates]})
    last = table.groupby(schema.unit, sort=False).tail(1)
    risk = last.sort_values(["p_failure", "rul"], ascending=[False, True], kind="stable").head(MAX_LISTED)
    summary = {"units": int(last.shape[0]), "rows": int(table.shape[0]), "within": within,
               "level": model.level, "units_likely_to_fail": int((last["p_failure"] >= 0.5).sum()),
               "most_at_risk": [{"unit": _plain(r[schema.unit]), "at": float(r[schema.time]), "rul": r["rul"],
                                 "rul_lower": r["rul_lower"], "rul_upper": r["rul_upper"],
                                 "p_failure": r["p_failure"]} for r in risk.to_dict("records")]}
    return table, summary


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
