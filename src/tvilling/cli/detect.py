"""``tvilling detect``: offline anomaly detection on a (multi)variate CSV (contract in shared/docs/contracts.md).

Output CSV: the time column (or ``row`` when there is none) + ``anomaly_score`` + ``is_anomaly`` (0/1), one line
per input row. The threshold rule is documented in :mod:`tvilling.ml.anomaly.offline`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

if TYPE_CHECKING:
    import pandas as pd


_TIME_NAMES = ("timestamp", "time", "datetime", "date", "ts")


def _time_column(df: pd.DataFrame, requested: str | None) -> str | None:
    if requested is not None:
        if requested not in df.columns:
            fail(f"time column {requested!r} not found; columns are: {', '.join(map(str, df.columns))}")
        return requested
    for col in df.columns:
        if str(col).strip().lower() in _TIME_NAMES:
            return str(col)
    return None


def detect(
    input: Annotated[Path, typer.Option("--input", help="CSV file, one row per time step")],
    out: Annotated[Path, typer.Option("--out", help="output CSV: time, anomaly_score, is_anomaly")],
    sep: Annotated[str, typer.Option("--sep", help="field separator")] = ",",
    time_col: Annotated[str | None, typer.Option("--time-col", help="time column (default: auto)")] = None,
    exclude: Annotated[str, typer.Option("--exclude", help="comma-separated columns to ignore")] = "",
    train_rows: Annotated[int | None, typer.Option("--train-rows", help="leading rows used for fitting "
                                                   "and for the threshold (default: 20 %)")] = None,
    ewma: Annotated[float, typer.Option("--ewma", help="weight per row of the EWMA chart that flags small "
                                        "lasting shifts (0 turns it off)")] = 0.1,
    workers: Annotated[int | None, typer.Option("--workers", help="processes for the per-signal scorers "
                                                "(default: one per CPU, at most 8; 1: no pool)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object on the last line")] = False,
) -> None:
    """Score every row of a CSV for anomalies using all numeric columns (except --exclude)."""
    import numpy as np
    import pandas as pd

    from tvilling.ml.anomaly.offline import detect_table
    if not input.is_file():
        fail(f"input file not found: {input}")
    if train_rows is not None and train_rows < 0:
        fail("--train-rows must be >= 0")
    if workers is not None and workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    if not 0.0 <= ewma < 1.0:
        fail(f"--ewma must be in [0, 1), got {ewma}; 0.1 is the default, 0 turns the lasting-shift chart off")
    try:
        df = pd.read_csv(input, sep=sep)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        fail(f"cannot read {input}: {exc}")
    if df.empty:
        fail(f"{input} has no data rows")
    excluded = [c.strip() for c in exclude.split(",") if c.strip()]
    missing = [c for c in excluded if c not in df.columns]
    if missing:
        fail(f"excluded column(s) not found: {', '.join(missing)}")
    tcol = _time_column(df, time_col)
    numeric = [str(c) for c in df.select_dtypes(include="number").columns if c not in excluded and c != tcol]
    if not numeric:
        fail(f"no numeric columns to analyse in {input} (after excluding {', '.join(excluded) or 'nothing'}; "
             f"check --sep)")
    values = df[numeric].to_numpy(dtype=np.float64)
    try:
        with _pool(values.size, len(numeric), workers) as pool:
            result = detect_table(values, numeric, train_rows=train_rows, ewma=ewma,
                                  mapper=pool.map if pool is not None else map)
    except TvillingError as exc:
        fail(str(exc))
    time_values: Any = df[tcol] if tcol is not None else np.arange(len(df))
    out_df = pd.DataFrame({tcol or "row": time_values, "anomaly_score": np.round(result.scores, 6),
                           "is_anomaly": result.is_anomaly.astype(int)})
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out_df.to_csv(out, index=False)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    n_anom = int(result.is_anomaly.sum())
    if json_out:
        emit_json({
            "rows": len(df), "columns": numeric, "time_col": tcol, "train_rows": result.train_rows,
            "threshold": round(result.threshold, 6), "anomalies": n_anom,
            "anomaly_rate": round(n_anom / len(df), 6), "episodes": [
                {"since": _stamp(time_values, a.since), "last": _stamp(time_values, a.last),
                 "peak_score": round(a.peak_score, 6), "signals": list(a.signals), "reasons": reasons}
                for a, reasons in zip(result.alerts[:100], result.alert_reasons, strict=False)],
            "out": str(out)})
    else:
        typer.echo(f"{n_anom} anomalous rows of {len(df)} ({len(result.alerts)} episodes), threshold "
                   f"{result.threshold:.4f}; wrote {out}")


# Below this many values a pool costs more to start (a fresh interpreter per worker) than it saves.
POOL_MIN_VALUES = 200_000


@contextmanager
def _pool(values: int, signals: int, workers: int | None) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool for the streaming scorers (one job per signal plus one across them), or None when the
    table is small, there is one CPU, or ``--workers 1``. Results are identical either way."""
    wanted = min(_usable_cpus(), 8) if workers is None else workers
    size = min(wanted, signals + (signals > 1))
    if size < 2 or values < POOL_MIN_VALUES:
        yield None
        return
    # spawn: the workers import only what the jobs need, and no lock held by another thread is forked
    with ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count, where the OS says so)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every OS
        return os.cpu_count() or 1


def _stamp(times: Any, idx: object) -> Any:
    import numpy as np
    import pandas as pd
    i = int(idx)  # type: ignore[call-overload]
    value = times.iloc[i] if isinstance(times, pd.Series) else times[i]
    return value.item() if isinstance(value, np.generic) else value
