"""What ``tvilling fmu`` commands share: the FMU and option types, ``NAME=VALUE`` pairs, measured data from a CSV,
and writing a result CSV."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.output import fail

FmuFile = Annotated[Path, typer.Argument(help="the .fmu file", show_default=False)]
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object on the last line")]
SetValues = Annotated[list[str] | None, typer.Option("--set", help="NAME=VALUE for a parameter or an input's start "
                                                     "value; repeatable")]
DataCsv = Annotated[Path, typer.Option("--data", help="CSV of measurements: a time column and one column per "
                                      "measured input and output")]
CompareCols = Annotated[list[str] | None, typer.Option("--compare", help="OUTPUT=COLUMN, a model output and the "
                                                       "column that measured it (default: columns named as outputs)")]
InputCols = Annotated[list[str] | None, typer.Option("--input", help="INPUT=COLUMN, a model input and the column "
                                                     "that drove it (default: columns named as inputs)")]
TimeCol = Annotated[str, typer.Option("--time-col", help="seconds, or ISO 8601 timestamps")]


def text_pairs(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs with the values kept as text: they are checked against the model's variables later,
    and a column name such as ``1`` must stay a name (``tvilling.cli.remote.parse_assignments`` reads JSON values,
    which suits twin properties, not these)."""
    from tvilling.core.errors import ValidationError

    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValidationError(f"--set {item!r} is not NAME=VALUE", where="--set", hint="for example --set UA=650")
        values[name.strip()] = value.strip()
    return values



def read_measurements(path: Path, variables: Any, *, time_col: str, inputs: dict[str, Any],
                      outputs: dict[str, Any]) -> Any:
    """Measurements from a CSV: a time column (s or timestamps), inputs and outputs by model name or mapping."""
    return read_measured(path, variables, time_col=time_col, inputs=inputs, outputs=outputs)[0]


def read_measured(path: Path, variables: Any, *, time_col: str, inputs: dict[str, Any],
                  outputs: dict[str, Any]) -> tuple[Any, datetime | None]:
    """:func:`read_measurements` and, when the time column holds timestamps, the instant of time 0 (else None)."""
    import pandas as pd

    from tvilling.core.errors import ValidationError
    from tvilling.simulation.calibrate import Measurements

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}", where=str(path)) from exc
    if time_col not in frame.columns:
        raise ValidationError(f"{path} has no column {time_col!r}", where=time_col,
                              hint="name the time column with --time-col; columns: "
                              + ", ".join(map(str, frame.columns)))
    raw_t = frame[time_col]
    origin: datetime | None = None
    seconds = pd.to_numeric(raw_t, errors="coerce")
    if seconds.isna().any():
        stamps = pd.to_datetime(raw_t, utc=True, errors="coerce", format="ISO8601")
        if stamps.isna().any():
            raise ValidationError(f"{time_col!r} holds neither seconds nor ISO 8601 times (row "
                                  f"{int(stamps.isna().to_numpy().argmax()) + 2})", where=time_col)
        seconds = (stamps - stamps.iloc[0]).dt.total_seconds()
        origin = stamps.iloc[0].to_pydatetime()
    by_role = {"input": inputs, "output": outputs}
    picked: dict[str, dict[str, list[float]]] = {"input": {}, "output": {}}
    for role, mapping in by_role.items():
        names = mapping or {v.name: v.name for v in variables if v.causality == role and v.name in frame.columns}
        for name, column in names.items():
            if column not in frame.columns:
                raise ValidationError(f"{path} has no column {column!r} for the {role} {name!r}", where=str(column))
            picked[role][name] = pd.to_numeric(frame[column], errors="coerce").astype(float).tolist()
    return Measurements.from_columns(seconds.astype(float).tolist(), inputs=picked["input"],
                                     outputs=picked["output"]), origin



def write_csv(out: Path, times: list[float], columns: dict[str, list[float]]) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", *columns])
            for k, t in enumerate(times):
                writer.writerow([repr(t), *(repr(values[k]) for values in columns.values())])
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
