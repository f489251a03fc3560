"""``tvilling fmu info`` and ``tvilling fmu simulate``: run an FMI 2.0/3.0 co-simulation FMU from the command line
(contract in shared/docs/contracts.md). The FMU runs in this process, through :mod:`tvilling.adapters.fmu`."""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.fmu_data import (
    CompareCols,
    DataCsv,
    FmuFile,
    InputCols,
    JsonFlag,
    SetValues,
    TimeCol,
    read_measurements,
    text_pairs,
    write_csv,
)
from tvilling.cli.fmu_residuals import residuals
from tvilling.cli.output import emit_json, fail
from tvilling.cli.remote import Token, Url, connect
from tvilling.core.errors import TvillingError

app = typer.Typer(help="Run FMUs (FMI 2.0 / 3.0 co-simulation): list their variables, simulate them to a CSV.",
                  no_args_is_help=True)



@app.command("info")
def info(fmu: FmuFile, json_out: JsonFlag = False) -> None:
    """Show what an FMU declares: FMI version, platforms, default experiment, parameters, inputs and outputs."""
    from tvilling.adapters.fmu import read_info

    try:
        described = read_info(fmu)
    except TvillingError as exc:
        fail(str(exc))
    if json_out:
        emit_json(described.as_dict())
        return
    exp = described.default_experiment
    typer.echo(f"{described.model_name} — FMI {described.fmi_version}, "
               f"{'co-simulation' if described.co_simulation else 'model exchange only'}, "
               f"platforms {', '.join(described.platforms) or 'none (sources only)'}, "
               f"snapshots {'yes' if described.can_snapshot else 'no'}")
    if described.description:
        typer.echo(described.description)
    typer.echo(f"default experiment: start {exp.start_time}, stop {exp.stop_time}, step {exp.step_size}")
    for kind in ("parameter", "input", "output"):
        rows = [v for v in described.variables if v.causality == kind]
        if rows:
            typer.echo(f"{kind}s:")
            for v in rows:
                start = "" if v.start is None else f" = {v.start}"
                typer.echo(f"  {v.name}{start} {v.unit}".rstrip() + (f"  — {v.description}" if v.description else ""))


OutCsv = Annotated[Path, typer.Option("--out", help="output CSV: time and the recorded outputs")]
StopTime = Annotated[float | None, typer.Option("--stop-time", help="end of the run, s (default: the FMU's default "
                                                "experiment)")]
Step = Annotated[float | None, typer.Option("--step", help="communication step, s (default: the FMU's)")]
StartTime = Annotated[float | None, typer.Option("--start-time", help="start of the run, s")]
InputCsv = Annotated[Path | None, typer.Option("--input", help="CSV of inputs over time: a `time` column (s) and one "
                                               "column per input, held between rows")]
Outputs = Annotated[str, typer.Option("--output", help="comma-separated outputs to record (default: all)")]


@app.command("simulate")
def simulate(fmu: FmuFile, out: OutCsv, stop_time: StopTime = None, step: Step = None, start_time: StartTime = None,
             set_values: SetValues = None, input_csv: InputCsv = None, output: Outputs = "",
             json_out: JsonFlag = False) -> None:
    """Simulate a co-simulation FMU and write its outputs at every communication step to a CSV."""
    from tvilling.adapters.fmu import FmuModel
    from tvilling.simulation.cosim import resolve_span
    from tvilling.simulation.cosim import simulate as run

    try:
        values = text_pairs(set_values or [])
        inputs = read_inputs(input_csv) if input_csv is not None else None
        began = time.perf_counter()
        with FmuModel(fmu) as model:
            span = resolve_span(model, start_time=start_time, stop_time=stop_time, step=step)
            with _progress(span.steps, quiet=json_out) as tick:
                result = run(model, span, values=values, inputs=inputs, record=_names(output), on_step=tick)
            described = model.info
        seconds = time.perf_counter() - began
    except TvillingError as exc:
        fail(str(exc))
    write_csv(out, result.times, result.columns)
    if json_out:
        emit_json({"fmu": str(fmu), "fmiVersion": described.fmi_version, "modelName": described.model_name,
                   "startTime": span.start, "stopTime": span.stop, "step": span.step, "steps": span.steps,
                   "rows": len(result.times), "columns": ["time", *result.columns], "units": result.units,
                   "final": result.final(), "seconds": round(seconds, 4), "out": str(out)})
    else:
        final = ", ".join(f"{k} = {v:.6g}" + (f" {result.units[k]}" if k in result.units else "")
                          for k, v in result.final().items())
        typer.echo(f"{described.model_name}: {span.steps} steps of {span.step:g} s to t = {span.stop:g} s in "
                   f"{seconds:.2f} s; at the end {final}; wrote {out}")


@app.command("ensemble")
def ensemble(
    fmu: FmuFile,
    out: Annotated[Path, typer.Option("--out", help="output CSV: time and each output's 5/25/50/75/95th "
                                      "percentile over the samples")],
    vary: Annotated[list[str], typer.Option("--vary", help="NAME=normal:MEAN:SD, uniform:LOW:HIGH, "
                                            "triangular:LOW:MODE:HIGH or lognormal:MEDIAN:SIGMA; repeatable")],
    samples: Annotated[int, typer.Option("--samples", help="runs (2-1000), drawn by Latin hypercube")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="the same seed draws the same samples")] = 0,
    limit: Annotated[list[str] | None, typer.Option("--limit", help="NAME>LEVEL or NAME<LEVEL: the share of runs "
                                                    "whose output crosses it; repeatable")] = None,
    stop_time: StopTime = None, step: Step = None, start_time: StartTime = None, set_values: SetValues = None,
    input_csv: InputCsv = None, output: Outputs = "", json_out: JsonFlag = False,
) -> None:
    """Monte Carlo what-if: run an FMU many times with uncertain parameters or inputs and summarise the spread."""
    from tvilling.adapters.fmu import FmuModel
    from tvilling.simulation.cosim import resolve_span
    from tvilling.simulation.ensemble import PERCENTILES, parse_distribution, run_ensemble

    try:
        spread = {name: parse_distribution(name, spec) for name, spec in text_pairs(vary).items()}
        limits = parse_limits(limit or [])
        values = text_pairs(set_values or [])
        inputs = read_inputs(input_csv) if input_csv is not None else None
        began = time.perf_counter()
        with FmuModel(fmu) as model:
            span = resolve_span(model, start_time=start_time, stop_time=stop_time, step=step)
            with _progress(samples * span.steps, quiet=json_out) as tick:
                result = run_ensemble(model, span, spread, samples=samples, values=values, inputs=inputs,
                                      record=_names(output), limits=limits, seed=seed,
                                      on_sample=None if tick is None else
                                      lambda k, n: tick(k * span.steps, n * span.steps))
        seconds = time.perf_counter() - began
    except TvillingError as exc:
        fail(str(exc))
    write_csv(out, result.times, {f"{name}_p{p}": band[f"p{p}"] for name, band in result.bands.items()
                                   for p in PERCENTILES})
    summary = {"fmu": str(fmu), "samples": result.samples, "failed": result.failed, "seed": seed,
               "vary": {name: d.as_dict() for name, d in spread.items()}, "steps": span.steps,
               "final": result.final, "exceedance": result.exceedance, "units": result.units,
               "seconds": round(seconds, 4), "out": str(out)}
    if json_out:
        emit_json(summary)
        return
    typer.echo(f"{result.samples} runs of {span.steps} steps in {seconds:.2f} s"
               + (f" ({result.failed} refused by the model)" if result.failed else "") + f"; wrote {out}")
    for name, stats in result.final.items():
        unit = f" {result.units[name]}" if name in result.units else ""
        typer.echo(f"  {name} at the end: median {stats['p50']:.4g}{unit}, 90 % between {stats['p5']:.4g} and "
                   f"{stats['p95']:.4g}" + (f"; crosses its limit in {result.exceedance[name]:.0%} of runs"
                                            if name in result.exceedance else ""))


@app.command("calibrate")
def calibrate(
    fmu: FmuFile,
    data: DataCsv,
    fit: Annotated[list[str], typer.Option("--fit", help="NAME=LOW:HIGH, a parameter to fit within bounds; "
                                           "repeatable")],
    compare: CompareCols = None,
    input_cols: InputCols = None,
    time_col: TimeCol = "time",
    set_values: SetValues = None,
    out: Annotated[Path | None, typer.Option("--out", help="CSV of time, measured, fitted model and residual per "
                                             "output")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Fit an FMU's parameters to measured data (least squares within bounds): the model that matches this asset."""
    from tvilling.adapters.fmu import FmuModel
    from tvilling.simulation.calibrate import calibrate as fit_model
    from tvilling.simulation.calibrate import run

    try:
        bounds = {name: parse_bounds(name, spec) for name, spec in text_pairs(fit).items()}
        values = text_pairs(set_values or [])
        began = time.perf_counter()
        with FmuModel(fmu) as model:
            measured = read_measurements(data, model.variables, time_col=time_col,
                                         inputs=text_pairs(input_cols or []),
                                         outputs=text_pairs(compare or []))
            result = fit_model(model, measured, bounds, values=values)
            predicted = run(model, measured, {**values, **result.values}) if out is not None else {}
        seconds = time.perf_counter() - began
    except TvillingError as exc:
        fail(str(exc))
    if out is not None:
        columns: dict[str, list[float]] = {}
        for name, series in measured.outputs.items():
            columns[f"{name}_measured"] = list(series)
            columns[f"{name}_model"] = [float(v) for v in predicted[name]]
            columns[f"{name}_residual"] = [m - float(p) for m, p in zip(series, predicted[name], strict=True)]
        write_csv(out, list(measured.times), columns)
    if json_out:
        emit_json({"fmu": str(fmu), **result.as_dict(), "seconds": round(seconds, 3),
                   "out": str(out) if out is not None else None})
        return
    typer.echo(f"fitted on {result.samples} samples in {seconds:.2f} s ({result.evaluations} model runs"
               + ("" if result.converged else f", not converged: {result.message}") + ")")
    for name, value in result.values.items():
        unit = f" {result.units[name]}" if name in result.units else ""
        band = result.intervals[name]
        within = f" (95 % {band[0]:.4g} to {band[1]:.4g})" if band else " (not determined by the data)"
        typer.echo(f"  {name} = {value:.6g}{unit}{within}" + ("  at its bound" if name in result.at_bound else ""))
    for name in result.rmse_after:
        unit = f" {result.units[name]}" if name in result.units else ""
        typer.echo(f"  {name}: RMSE {result.rmse_before[name]:.4g} -> {result.rmse_after[name]:.4g}{unit}")


def parse_bounds(name: str, spec: str) -> tuple[float, float]:
    from tvilling.core.errors import ValidationError

    low, sep, high = str(spec).partition(":")
    try:
        bounds = (float(low), float(high))
    except ValueError:
        bounds = (math.nan, math.nan)
    if not sep or not all(math.isfinite(b) for b in bounds) or bounds[0] >= bounds[1]:
        raise ValidationError(f"--fit {name}={spec} is not NAME=LOW:HIGH with LOW < HIGH", where=name,
                              hint=f"for example --fit {name}=100:2000")
    return bounds


app.command("residuals")(residuals)


# -- the server's FMU library (through the SDK; docs/physics.md) ---------------------------------------------------

@app.command("upload")
def upload(fmu: FmuFile, url: Url = None, token: Token = None,
           name: Annotated[str | None, typer.Option("--name", help="display name (default: the model's)")] = None,
           json_out: JsonFlag = False) -> None:
    """Upload an FMU to a running server's library (engineer role); prints its id."""
    try:
        data = fmu.read_bytes()
    except OSError as exc:
        fail(f"cannot read {fmu}: {exc.strerror or exc}")
    with connect(url, token) as client:
        entry = client.upload_fmu(data, name=name)
    if json_out:
        emit_json(entry)
    else:
        typer.echo(f"{entry['id']}  {entry['name']} ({entry['modelName']}, FMI {entry['fmiVersion']})")


@app.command("list")
def list_library(url: Url = None, token: Token = None, json_out: JsonFlag = False) -> None:
    """The FMUs in a running server's library."""
    with connect(url, token) as client:
        items = client.list_fmus()["value"]
    if json_out:
        emit_json({"value": items, "count": len(items)})
        return
    for e in items:
        typer.echo(f"{e['id']}  {e['name']}  {e['modelName']}  FMI {e['fmiVersion']}  {e['variableCount']} variables"
                   f"  by {e['createdBy']} at {e['createdAt']}")


@app.command("delete")
def delete(fmu_id: Annotated[str, typer.Argument(help="the FMU's id (fmu-…)")], url: Url = None,
           token: Token = None) -> None:
    """Remove an FMU from a running server's library (engineer role)."""
    with connect(url, token) as client:
        client.delete_fmu(fmu_id)
    typer.echo(f"deleted {fmu_id}")


def parse_limits(items: list[str]) -> dict[str, tuple[str, float]]:
    """``T>25`` / ``T<2`` as {"T": ("above", 25.0)}."""
    from tvilling.core.errors import ValidationError

    limits: dict[str, tuple[str, float]] = {}
    for item in items:
        side = ">" if ">" in item else "<" if "<" in item else ""
        name, _, level = item.partition(side) if side else (item, "", "")
        try:
            limits[name.strip()] = ("above" if side == ">" else "below", float(level))
        except ValueError:
            raise ValidationError(f"--limit {item!r} is not NAME>LEVEL or NAME<LEVEL", where="--limit",
                                  hint="for example --limit 'T>25'") from None
        if not side or not name.strip():
            raise ValidationError(f"--limit {item!r} is not NAME>LEVEL or NAME<LEVEL", where="--limit",
                                  hint="for example --limit 'T>25'")
    return limits


def _names(output: str) -> list[str]:
    return [n.strip() for n in output.split(",") if n.strip()]


def read_inputs(path: Path) -> Any:
    """An input table from a CSV with a ``time`` column; every other column is an input's values."""
    from tvilling.core.errors import ValidationError
    from tvilling.simulation.cosim import InputTable

    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", where=str(path)) from exc
    if not rows or "time" not in [c.strip() for c in rows[0]]:
        raise ValidationError(f"{path} has no `time` column", where=str(path),
                              hint="the first line names the columns: time,Q_hvac,T_out")
    header = [c.strip() for c in rows[0]]
    data = [r for r in rows[1:] if any(c.strip() for c in r)]
    columns: dict[str, list[float]] = {name: [] for name in header}
    for i, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise ValidationError(f"line {i} has {len(row)} fields, the header {len(header)}", where=f"{path}:{i}")
        for name, cell in zip(header, row, strict=True):
            try:
                columns[name].append(float(cell))
            except ValueError:
                raise ValidationError(f"line {i}, column {name!r}: {cell!r} is not a number", where=f"{path}:{i}",
                                      hint="use '.' as the decimal mark and give every cell a value") from None
    times = columns.pop("time")
    return InputTable.from_rows(times, columns, where=str(path))


@contextmanager
def _progress(total: int, *, quiet: bool) -> Iterator[Any]:
    """A Rich progress bar on stderr for long runs at a terminal; nothing otherwise (scripts, --json)."""
    if quiet or total < 10_000 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulating", total=total)
        every = max(total // 200, 1)

        def tick(done: int, _total: int) -> None:
            if done % every == 0 or done == _total:
                bar.update(task, completed=done)

        yield tick
