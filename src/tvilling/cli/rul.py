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
from tvilling.cli.remote import Token, Url, connect, show
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
Settings = Annotated[str | None, typer.Option("--settings", help="comma-separated operating-setting columns "
                                              "(default: those named setting*)")]
Exclude = Annotated[str, typer.Option("--exclude", help="comma-separated columns to ignore")]
Horizon = Annotated[float, typer.Option("--horizon", help="the cross-validation scores, and the intervals are "
                                        "calibrated on, time steps at most this far from failure")]
Level = Annotated[float, typer.Option("--level", help="interval coverage")]
Folds = Annotated[int, typer.Option("--folds", help="folds of the internal cross-validation, by unit")]


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
    settings: Settings = None,
    exclude: Exclude = "",
    horizon: Horizon = 150.0,
    level: Level = 0.8,
    folds: Folds = 5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_out: AsJson = False,
) -> None:
    """Fit the RUL model on run-to-failure histories (each unit's last row is its failure)."""
    from rich.console import Console

    from tvilling.app import offline_rul
    try:
        with Console(stderr=True).status(f"fitting on {input.name}: {folds}-fold cross-validation by unit, then "
                                         "the final models (a few minutes for a C-MAPSS file)"):
            data, summary = offline_rul.train(
                input, _options(format, sep, unit_col, time_col, settings, exclude),
                offline_rul.TrainSettings(horizon=horizon, level=level, folds=folds, seed=seed))
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
    input: Input,
    out: Annotated[Path, typer.Option("--out", help="output CSV: unit, time, rul, rul_lower, rul_upper, "
                                      "interval_level, within, p_failure")],
    within: Annotated[float, typer.Option("--within", help="horizon for P(failure within), in the time "
                                          "column's unit")] = 30.0,
    every_row: Annotated[bool, typer.Option("--every-row", help="an estimate at every row (each from the "
                                            "unit's rows up to it), not only at each unit's last row")] = False,
    format: Format = "csv",
    sep: Sep = ",",
    model: Annotated[Path | None, typer.Option("--model", help="model file from `tvilling rul train`")] = None,
    name: Annotated[str | None, typer.Option("--name", help="instead of --model: a RUL model registered on a "
                                             "server (`tvilling rul submit`); its production version")] = None,
    version: Annotated[int | None, typer.Option("--version", help="with --name: this version")] = None,
    url: Url = None,
    token: Token = None,
    json_out: AsJson = False,
) -> None:
    """Estimate each unit's remaining useful life from its history so far (a model file, or a registered model)."""
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from tvilling.app import offline_rul
    if (model is None) == (name is None):
        fail("give either --model FILE (a model file) or --name NAME (a model registered on a server)")
    if version is not None and name is None:
        fail("--version picks a version of a registered model: use it with --name")
    source: dict[str, Any]
    try:
        if model is not None:
            estimator, training = offline_rul.load_model(model)
            schema = estimator.schema
            frame = offline_rul.read_histories(input, _options(format, sep, schema.unit, schema.time))
            table, summary = offline_rul.predict(estimator, frame, within=within, every_row=every_row)
            source = {"model": str(model), "trained_on": training.get("source")}
        else:
            assert name is not None
            data = _read(input)
            with connect(url, token) as client:
                answer = client.predict_rul(name, data, within=within, version=version, every_row=every_row,
                                            format=format, sep=sep)
            table = pd.DataFrame(answer.pop("estimates"))
            summary = answer
            source = {"model": f"{name} v{answer['version']}"}
    except TvillingError as exc:
        fail(str(exc))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    if json_out:
        emit_json({**summary, **source, "out": str(out)})
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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fail(f"no such file: {path}")
    except OSError as exc:
        fail(f"cannot read {path}: {exc}")


@app.command("submit")
def submit(
    input: Input,
    name: Annotated[str, typer.Option("--name", help="model name in the server's registry")],
    format: Format = "csv",
    sep: Sep = ",",
    unit_col: UnitCol = "unit",
    time_col: TimeCol = "cycle",
    settings: Settings = None,
    exclude: Exclude = "",
    horizon: Horizon = 150.0,
    level: Level = 0.8,
    folds: Folds = 5,
    promote: Annotated[bool, typer.Option("--promote", help="make the new version the production one")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the job has finished")] = False,
    url: Url = None,
    token: Token = None,
    json_out: AsJson = False,
) -> None:
    """Train on a server: the table is checked there at once, fitted in the background and registered as the
    next version of NAME (engineer token)."""
    import time

    from rich.console import Console
    data = _read(input)
    with connect(url, token) as client:
        job = client.submit_rul_job(
            name, data, format=format, sep=sep, unit_col=unit_col, time_col=time_col,
            settings=None if settings is None else [c for c in settings.split(",") if c],
            exclude=[c for c in exclude.split(",") if c], horizon=horizon, level=level, folds=folds, promote=promote)
        if wait:
            with Console(stderr=True).status(f"training job {job['id']} on the server"):
                while job["status"] in ("queued", "running"):
                    time.sleep(1.0)
                    job = client.get_rul_job(job["id"])
    if job["status"] == "failed":
        fail(f"training job {job['id']} failed: {job['error']}")
    if json_out:
        emit_json(job)
    elif job["status"] == "succeeded":
        typer.echo(f"{name} version {job['version']} registered ({'production' if promote else 'candidate'}); "
                   f"cross-validated RMSE {job['summary']['cv_rmse']:.2f}")
    else:
        typer.echo(f"training job {job['id']} {job['status']}; follow it with `tvilling rul jobs --id {job['id']}`")


@app.command("jobs")
def jobs(
    job_id: Annotated[str | None, typer.Option("--id", help="one job")] = None,
    url: Url = None,
    token: Token = None,
    json_out: AsJson = False,
) -> None:
    """Training jobs on a server (the last 100), or one of them."""
    with connect(url, token) as client:
        if job_id is not None:
            show(client.get_rul_job(job_id), json_out)
            return
        items = client.list_rul_jobs()["value"]
    if json_out:
        emit_json({"value": items})
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("name", "status", "version", "created (UTC)", "by", "error")
    table.add_column("id", overflow="fold")  # never cut: it is what `--id` takes
    for j in items:
        table.add_row(j["name"], j["status"], str(j["version"] or "-"), j["created_at"][:19], j["created_by"],
                      j["error"] or "", j["id"])
    Console().print(table)
