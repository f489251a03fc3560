"""``tvilling rul train`` / ``tvilling rul predict``: remaining useful life from history files (no server needed).

``train`` fits the default estimator (the one ``tvilling bench rul`` measures) on a fleet's run-to-failure
histories and writes a model file; ``predict`` reads it and estimates, per unit, the RUL at its last row with
an interval and P(failure within a horizon). docs/predictive.md has the walk-through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

app = typer.Typer(help="Remaining useful life from history files: train a model, then predict with it.",
                  no_args_is_help=True)

Input = Annotated[Path, typer.Option("--input", help="history table: one row per unit and time step")]
Format = Annotated[str, typer.Option("--format", help="csv, or cmapss (NASA C-MAPSS .txt: unit, cycle, "
                                     "3 settings, 21 sensors, space-separated, no header)")]
Sep = Annotated[str, typer.Option("--sep", help="CSV field separator")]
UnitCol = Annotated[str, typer.Option("--unit-col", help="column naming the unit (asset, engine, …)")]
TimeCol = Annotated[str, typer.Option("--time-col", help="increasing time column (cycles, hours, …)")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object on the last line")]


def _options(format: str, sep: str, unit_col: str, time_col: str, settings: str | None = None,
             exclude: str = "") -> Any:
    from tvilling.app.offline_rul import HistoryOptions
    return HistoryOptions(format=format, sep=sep, unit_col=unit_col, time_col=time_col,
                          settings=None if settings is None else tuple(c for c in settings.split(",") if c),
                          exclude=tuple(c for c in exclude.split(",") if c))


@app.command("train")
def train(
    input: Input,
    out: Annotated[Path, typer.Option("--out", help="model file to write (JSON)")],
    format: Format = "csv",
    sep: Sep = ",",
    unit_col: UnitCol = "unit",
    time_col: TimeCol = "cycle",
    settings: Annotated[str | None, typer.Option("--settings", help="comma-separated operating-setting "
                                                 "columns (default: those named setting*)")] = None,
    exclude: Annotated[str, typer.Option("--exclude", help="comma-separated columns to ignore")] = "",
    horizon: Annotated[float, typer.Option("--horizon", help="the cross-validation scores, and the intervals "
                                           "are calibrated on, time steps at most this far from failure")] = 150.0,
    level: Annotated[float, typer.Option("--level", help="interval coverage")] = 0.8,
    folds: Annotated[int, typer.Option("--folds", help="folds of the internal cross-validation, by unit")] = 5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_out: AsJson = False,
) -> None:
    """Fit the RUL model on run-to-failure histories (each unit's last row is its failure)."""
    from rich.console import Console

    from tvilling.app import offline_rul
    try:
        with Console(stderr=True).status(f"fitting on {input.name}: {folds}-fold cross-validation by unit, then "
                                         "the final models (a few minutes for a C-MAPSS file)"):
            data, summary = offline_rul.train(input, _options(format, sep, unit_col, time_col, settings, exclude),
                                              horizon=horizon, level=level, folds=folds, seed=seed)
    except TvillingError as exc:
        fail(str(exc))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    if json_out:
        emit_json({**summary, "out": str(out), "bytes": len(data)})
        return
    dropped = f" (dropped as uninformative: {', '.join(summary['sensors_dropped'])})" \
        if summary["sensors_dropped"] else ""
    typer.echo(f"fitted on {summary['units']} units, {summary['rows']} rows; {len(summary['sensors_used'])} "
               f"sensors used{dropped}; {summary['regimes']} operating regime(s)")
    typer.echo(f"cross-validated RMSE {summary['cv_rmse']:.2f} (time steps within {summary['horizon']:g} of "
               f"failure, {summary['cv_folds']} folds by unit); {summary['fit_cpu_seconds']:.0f} s CPU; "
               f"wrote {out}")


@app.command("predict")
def predict(
    model: Annotated[Path, typer.Option("--model", help="model file from `tvilling rul train`")],
    input: Input,
    out: Annotated[Path, typer.Option("--out", help="output CSV: unit, time, rul, rul_lower, rul_upper, "
                                      "interval_level, within, p_failure")],
    within: Annotated[float, typer.Option("--within", help="horizon for P(failure within), in the time "
                                          "column's unit")] = 30.0,
    every_row: Annotated[bool, typer.Option("--every-row", help="an estimate at every row (each from the "
                                            "unit's rows up to it), not only at each unit's last row")] = False,
    format: Format = "csv",
    sep: Sep = ",",
    json_out: AsJson = False,
) -> None:
    """Estimate each unit's remaining useful life from its history so far."""
    from rich.console import Console
    from rich.table import Table

    from tvilling.app import offline_rul
    try:
        estimator, training = offline_rul.load_model(model)
        schema = estimator.schema
        frame = offline_rul.read_histories(input, _options(format, sep, schema.unit, schema.time))
        table, summary = offline_rul.predict(estimator, frame, within=within, every_row=every_row)
    except TvillingError as exc:
        fail(str(exc))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    if json_out:
        emit_json({**summary, "model": str(model), "trained_on": training.get("source"), "out": str(out)})
        return
    shown = Table(title=f"Units most at risk (of {summary['units']}): P(failure within {within:g})")
    for col in ("unit", "at", "RUL", f"{summary['level']:.0%} interval", "P(failure)"):
        shown.add_column(col, justify="right")
    for r in summary["most_at_risk"]:
        shown.add_row(str(r["unit"]), f"{r['at']:g}", f"{r['rul']:.1f}",
                      f"{r['rul_lower']:.1f} – {r['rul_upper']:.1f}", f"{r['p_failure']:.2f}")
    Console().print(shown)
    typer.echo(f"{summary['units_likely_to_fail']} unit(s) with P(failure within {within:g}) >= 0.5; "
               f"wrote {summary['rows']} estimate(s) to {out}")
