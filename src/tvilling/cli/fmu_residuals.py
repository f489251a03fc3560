"""``tvilling fmu residuals``: compare measured data with an FMU driven by the measured inputs, and say where the
asset stopped behaving like its model (:mod:`tvilling.simulation.residuals`; docs/physics.md)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
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
    read_measured,
    text_pairs,
    write_csv,
)
from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

MAX_EPISODES_SHOWN = 20


def residuals(
    fmu: FmuFile,
    data: DataCsv,
    compare: CompareCols = None,
    input_cols: InputCols = None,
    time_col: TimeCol = "time",
    set_values: SetValues = None,
    reference_rows: Annotated[int | None, typer.Option("--reference-rows", help="leading rows known to be healthy, "
                                                       "e.g. those the model was calibrated on (default: 20 %)")]
    = None,
    out: Annotated[Path | None, typer.Option("--out", help="CSV of time, measured, model and residual per output, "
                                             "the score and the anomalous flag")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Compare measurements with the FMU driven by the measured inputs: residuals, control charts, fault episodes."""
    from tvilling.adapters.fmu import FmuModel
    from tvilling.simulation.residuals import analyse_residuals

    try:
        values = text_pairs(set_values or [])
        began = time.perf_counter()
        with FmuModel(fmu) as model:
            measured, origin = read_measured(data, model.variables, time_col=time_col,
                                             inputs=text_pairs(input_cols or []), outputs=text_pairs(compare or []))
            report = analyse_residuals(model, measured, values, reference_rows=reference_rows)
        seconds = time.perf_counter() - began
    except TvillingError as exc:
        fail(str(exc))
    if out is not None:
        columns: dict[str, list[float]] = {}
        for name in report.residual:
            columns[f"{name}_measured"] = report.measured[name].tolist()
            columns[f"{name}_model"] = report.model[name].tolist()
            columns[f"{name}_residual"] = report.residual[name].tolist()
        columns["score"] = report.score.round(4).tolist()
        columns["anomalous"] = report.anomalous.astype(int).tolist()
        write_csv(out, list(report.times), columns)
    answer = report.as_dict()
    if json_out:
        summary = {k: answer[k] for k in ("referenceRows", "stats", "episodes", "units", "charts", "anomalousRows")}
        emit_json({"fmu": str(fmu), "samples": len(report.times), **summary,
                   "timeOrigin": _stamp(origin, 0.0), "seconds": round(seconds, 3),
                   "out": str(out) if out is not None else None})
        return
    ref = report.reference_rows
    typer.echo(f"compared {len(report.times)} samples in {seconds:.2f} s; reference (healthy): the first {ref} rows, "
               f"to {_when(origin, report.times[ref - 1])}")
    for name, st in answer["stats"].items():
        unit = _unit(report.units, name)
        typer.echo(f"  {name}: residual bias {_num(st['biasReference'])} -> {_num(st['biasAfter'])}{unit}, RMSE "
                   f"{_num(st['rmseReference'], '.4g')} -> {_num(st['rmseAfter'], '.4g')}{unit} after the reference; "
                   f"{int(st['anomalousRowsAfter'] or 0)} anomalous rows")
    episodes = answer["episodes"]
    after = [e for e in episodes if e["afterReference"]]
    typer.echo(f"{len(after)} episode(s) after the reference" + (":" if after else " — behaves like its model"))
    for e in after[:MAX_EPISODES_SHOWN]:
        which = ", ".join(f"{k} (mean residual {_num(v)}{_unit(report.units, k)})"
                          for k, v in e["meanResidual"].items())
        typer.echo(f"  {_when(origin, e['start'])} to {_when(origin, e['end'])} ({e['rows']} rows, peak "
                   f"{e['peakScore']:.3g}× the limit): {which}")
    if len(after) > MAX_EPISODES_SHOWN:
        typer.echo(f"  … and {len(after) - MAX_EPISODES_SHOWN} more (--json or --out lists them all)")


def _stamp(origin: datetime | None, t: float) -> str | None:
    return None if origin is None else (origin + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")


def _when(origin: datetime | None, t: float) -> str:
    return _stamp(origin, t) or f"t = {t:g} s"


def _num(value: Any, form: str = "+.4g") -> str:
    return "n/a" if value is None else format(value, form)


def _unit(units: dict[str, str], name: str) -> str:
    return f" {units[name]}" if name in units else ""
