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
from typing import Annotated

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError


def detect(
    input: Annotated[Path, typer.Option("--input", help="CSV file, one row per time step")],
    out: Annotated[Path, typer.Option("--out", help="output CSV: time, anomaly_score, is_anomaly")],
    sep: Annotated[str, typer.Option("--sep", help="field separator")] = ",",
    decimal: Annotated[str, typer.Option("--decimal", help="decimal mark: '.' or ','")] = ".",
    time_col: Annotated[str | None, typer.Option("--time-col", help="time column (default: auto)")] = None,
    exclude: Annotated[str, typer.Option("--exclude", help="comma-separated columns to ignore")] = "",
    train_rows: Annotated[int | None, typer.Option("--train-rows", help="leading rows used for fitting "
                                                   "and for the threshold (default: 20 %)")] = None,
    label_col: Annotated[str | None, typer.Option("--label-col", help="column of known labels (1 = anomalous), "
                                                  "never a signal; the summary scores the flags against it")] = None,
    ewma: Annotated[float, typer.Option("--ewma", help="weight per row of the EWMA chart that flags small "
                                        "lasting shifts (0 turns it off)")] = 0.1,
    workers: Annotated[int | None, typer.Option("--workers", help="processes for the per-signal scorers "
                                                "(default: one per CPU, at most 8; 1: no pool)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object on the last line")] = False,
) -> None:
    """Score every row of a CSV for anomalies using all numeric columns (except --exclude)."""
    from tvilling.app.offline_detect import DetectOptions, choose_signals, detect, read_table
    if train_rows is not None and train_rows < 0:
        fail("--train-rows must be >= 0")
    if workers is not None and workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    if not 0.0 <= ewma < 1.0:
        fail(f"--ewma must be in [0, 1), got {ewma}; 0.1 is the default, 0 turns the lasting-shift chart off")
    options = DetectOptions(sep=sep, decimal=decimal, time_col=time_col, exclude=exclude.split(","),
                            train_rows=train_rows, ewma=ewma, label_col=label_col)
    try:
        options.check()
        df = read_table(input, sep, decimal=decimal)
        _, numeric = choose_signals(df, options, name=str(input))
        with _pool(df.shape[0] * len(numeric), len(numeric), workers) as pool:
            report = detect(df, options, name=str(input), mapper=pool.map if pool is not None else map)
    except TvillingError as exc:
        fail(str(exc))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        report.frame().to_csv(out, index=False)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    if json_out:
        emit_json({**report.summary(), "out": str(out)})
    else:
        typer.echo(f"{int(report.result.is_anomaly.sum())} anomalous rows of {report.rows} "
                   f"({len(report.result.alerts)} episodes), threshold {report.result.threshold:.4f}; wrote {out}")
        if report.labels is not None:
            ev = report.evaluation()
            typer.echo(f"against {label_col!r} after the training rows: precision {ev['precision']}, recall "
                       f"{ev['recall']}, F1 {ev['f1']}, false alarms {ev['false_alarm_rate']}, missed "
                       f"{ev['missed_alarm_rate']}")


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
