"""The Scenarios page's calibration card: fit an FMU's parameters to measurements (:meth:`FmuLibrary.calibrate`).

Upload a CSV of what the plant did, say which column is the time, which column drove each model input and which
measured each output, tick the parameters to fit with their bounds, and run: the fitted values with their 95 %
intervals, the error before and after, and per compared output the measurements under the fitted model. *Use
these values* copies the result into the what-if forms, so the calibrated model can be run at once. Engineers and
admins only (a calibration decides what the model is, as an upload does); the others see the card disabled. The
page (:mod:`scenarios`) hands in its role check, its error notification and the form fields to fill.
The CSV is read as ``tvilling fmu calibrate`` reads it (re-implemented: front-ends do not import each other), and
checked by the engine's ``Measurements.from_columns``, in its own words.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from nicegui import events, ui

from tvilling.app.auth import Principal
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.app.fmus import FmuLibrary
from tvilling.core.errors import TvillingError, ValidationError
from tvilling.core.roles import Role
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages import scenarios_ensemble as se
from tvilling.dashboard.pages.scenarios_run import guarded_runs
from tvilling.simulation.calibrate import Measurements

log = logging.getLogger(__name__)

NONE = ""  # the "no column" choice of a mapping select (a CSV header is never empty: pandas names it "Unnamed")
TIME_NAMES = ("time", "timestamp", "datetime")
FITTED_COLUMNS: list[dict[str, Any]] = [
    {"name": "parameter", "label": "Parameter", "field": "parameter", "align": "left"},
    {"name": "value", "label": "Fitted", "field": "value", "align": "right"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "interval", "label": "95 % interval", "field": "interval", "align": "left"},
    {"name": "start", "label": "Started at", "field": "start", "align": "right"},
    {"name": "note", "label": "", "field": "note", "align": "left"},
]
RMSE_COLUMNS: list[dict[str, Any]] = [
    {"name": "output", "label": "Output", "field": "output", "align": "left"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "before", "label": "RMSE before", "field": "before", "align": "right"},
    {"name": "after", "label": "RMSE after", "field": "after", "align": "right"},
]
CELL = r'''
<q-td :props="props" :data-testid="'cal-TABLE-' + props.col.name + '-' + props.row.key">{{ props.value }}</q-td>'''
BOUND_CELL = r'''
<q-td :props="props"><q-badge v-if="props.row.atBound" color="warning" text-color="black" label="at bound"
  :data-testid="'cal-at-bound-' + props.row.key"><q-tooltip>The best fit lies on a bound: widen it, or the data
  may not say more</q-tooltip></q-badge></q-td>'''


def read_csv(data: bytes, name: str) -> pd.DataFrame:
    """The uploaded table, comma- or semicolon-separated (a European spreadsheet's export), headers as text."""
    hint = "a header row, then one row per sample: the time and the measured signals, separated by commas"
    try:
        frame = pd.read_csv(io.BytesIO(data))
        if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
            frame = pd.read_csv(io.BytesIO(data), sep=";", decimal=",")
    except (ValueError, OSError) as exc:  # pandas' parser, decoding and empty-file errors are all ValueErrors
        raise ValidationError(f"{name} is not a readable CSV: {exc}", hint=hint) from None
    if len(frame.columns) < 2 or frame.empty:
        raise ValidationError(f"{name} is not a table of measurements ({len(frame)} rows, {len(frame.columns)} "
                              "column" + ("" if len(frame.columns) == 1 else "s") + ")", hint=hint)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def guess_time(columns: Sequence[str]) -> str:
    return next((c for c in columns if c.strip().lower() in TIME_NAMES), columns[0])


def seconds(frame: pd.DataFrame, column: str) -> list[float]:
    """The time column as seconds: numbers as they are, ISO 8601 timestamps counted from the first row."""
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    if numbers.isna().any():
        stamps = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
        if stamps.isna().any():
            line = int(stamps.isna().to_numpy().argmax()) + 2  # the header is line 1
            raise ValidationError(f"the time column {column!r} holds neither seconds nor ISO 8601 times (line "
                                  f"{line})", hint="choose the column that holds the time: seconds, or timestamps "
                                  "such as 2024-03-01T12:00:00Z")
        numbers = (stamps - stamps.iloc[0]).dt.total_seconds()
    return [float(t) for t in numbers]


def measurements(frame: pd.DataFrame, time_col: str, inputs: Mapping[str, str],
                 outputs: Mapping[str, str]) -> Measurements:
    """model variable -> CSV column mappings as the engine's checked Measurements; a cell that is no number is
    missing (allowed in an output, refused in an input by the engine, with its reason)."""
    def column(name: str) -> list[float]:
        return [float(v) for v in pd.to_numeric(frame[name], errors="coerce")]
    return Measurements.from_columns(seconds(frame, time_col), inputs={k: column(c) for k, c in inputs.items()},
                                     outputs={k: column(c) for k, c in outputs.items()})


def bounds(start: Any) -> tuple[float, float]:
    """Prefilled bounds: a factor of four either way for a positive start (UA, C: scale parameters), else ±10."""
    centre = float(start) if isinstance(start, int | float) and not isinstance(start, bool) else 0.0
    low, high = (centre / 4, centre * 4) if centre > 0 else (centre - 10, centre + 10)
    return float(f"{low:.12g}"), float(f"{high:.12g}")


def sig(value: float) -> float:
    """Six significant digits: what the table shows is what *Use these values* copies."""
    return float(f"{value:.6g}")


def fitted_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    units, intervals, at_bound = result.get("units", {}), result.get("intervals", {}), result.get("atBound", [])
    rows = []
    for name, value in result.get("values", {}).items():
        band = intervals.get(name)
        rows.append({"key": sc.safe_id(name), "parameter": name, "value": sc.number(sig(value)),
                     "unit": units.get(name) or "–", "start": sc.number(result.get("initial", {}).get(name)),
                     "interval": "not determined by the data" if not band else
                     f"{sc.number(float(f'{band[0]:.4g}'))} – {sc.number(float(f'{band[1]:.4g}'))}",
                     "atBound": name in at_bound, "note": ""})
    return rows


def rmse_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    def text(x: Any) -> str:  # None: the model refused the starting point (an infinite error)
        return "–" if x is None else f"{x:.4g}"
    return [{"key": sc.safe_id(name), "output": name, "unit": result.get("units", {}).get(name) or "–",
             "before": text(result.get("rmseBefore", {}).get(name)), "after": text(after)}
            for name, after in result.get("rmseAfter", {}).items()]


def summary(result: Mapping[str, Any]) -> str:
    ended = "Converged" if result.get("converged") else f"Not converged: {result.get('message', '')}"
    return (f"{ended} · {int(result.get('evaluations', 0)):,} model runs on {int(result.get('samples', 0)):,} "
            f"samples · {float(result.get('seconds') or 0.0):.1f} s")


def chart_options(name: str, unit: str, times: Sequence[float], measured: Sequence[float],
                  model: Sequence[float | None]) -> dict[str, Any]:
    """One compared output: the measurements as grey dots under the fitted model's blue line."""
    divisor, x_name = sc.time_axis(float(times[-1]) if times else 0.0)
    stride = max(1, math.ceil(len(times) / sc.CHART_POINTS))  # a long record is thinned, as the other charts are
    keep = [*range(0, len(times), stride), *([len(times) - 1] if (len(times) - 1) % stride else [])]
    dots = [[round(times[i] / divisor, 6), measured[i]] for i in keep if math.isfinite(measured[i])]
    line = [[round(times[i] / divisor, 6), model[i]] for i in keep]
    return {"animation": False, "tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 64, "right": 24, "top": 40, "bottom": 44},
            # The last sample is rarely on a round time (47.916667 h): its label is rounded.
            "xAxis": {"type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 26,
                      "min": "dataMin", "max": "dataMax", "axisLabel": {":formatter": "(v) => String(+v.toFixed(2))"}},
            "yAxis": {"type": "value", "name": f"{name} [{unit}]" if unit else name, "scale": True},
            "series": [{"name": "measured", "type": "scatter", "symbolSize": 3, "color": sc.BASELINE_COLOR,
                        "data": dots},
                       {"name": "fitted model", "type": "line", "showSymbol": False, "color": sc.SCENARIO_COLOR,
                        "lineStyle": {"width": 2, "color": sc.SCENARIO_COLOR}, "data": line}]}


@dataclass
class ParamRow:
    name: str
    fit: Any
    low: Any
    high: Any
    value: Any
    suggest: tuple[float, float]  # the prefilled bounds, offered again when the typed ones are unusable

    def show(self) -> None:
        for element in (self.low, self.high):
            element.set_visibility(bool(self.fit.value))
        self.value.set_visibility(not self.fit.value)


def number_or_none(element: Any) -> float | None:
    value = element.value
    return None if value is None or value == "" else float(value)


class CalibrationPanel:
    """The card (built where the page calls :meth:`card`): upload, mapping, parameters, Calibrate and results."""

    def __init__(self, *, library: FmuLibrary, tenant: str, entry: Mapping[str, Any], can_calibrate: bool,
                 role_name: str, max_bytes: int, allowed: Callable[[Role, str], Principal | None],
                 explain: Callable[[TvillingError, str], None], current: Callable[[], bool],
                 scenario_fields: Mapping[str, Any], uncertainty_rows: Sequence[se.Row]) -> None:
        self.library, self.tenant, self.entry = library, tenant, entry
        self.can, self.role_name, self.max_bytes = can_calibrate, role_name, max_bytes
        self.allowed, self.explain, self.current = allowed, explain, current
        self.scenario_fields, self.uncertainty_rows = scenario_fields, uncertainty_rows
        variables = [v for v in sc.settable(entry.get("variables", [])) if v.get("type") != "Boolean"]
        self.inputs = [v for v in variables if v.get("causality") == "input"]
        # Only plain parameters: the engine fits nothing else (a structural parameter is fixed at instantiation).
        self.params = [v for v in variables if v.get("causality") == "parameter"]
        self.outputs = [v for v in sc.outputs(entry.get("variables", [])) if v.get("type") != "Boolean"]
        self.frame: pd.DataFrame | None = None
        self.maps: dict[str, Any] = {}  # "time", "in:<name>", "out:<name>" -> its select
        self.rows: list[ParamRow] = []
        self.copy: dict[str, float] = {}  # what *Use these values* fills: fitted and fixed parameter values

    def card(self) -> None:
        with ui.card().classes("tv-card q-pa-md w-full").props("data-testid=cal-card"):
            ui.label("Calibrate on measurements").classes("tv-section")
            ui.label("Fit parameters so the model reproduces what the plant did: upload a CSV with a time column "
                     "(seconds, or ISO 8601 times) and the measured signals, map them to the model's inputs and "
                     "outputs, and tick what to fit. The model is driven by the measured inputs and its outputs "
                     "are compared with the measured ones." + ("" if self.can else
                     f" Calibrating needs engineer; you are {self.role_name}.")).classes("tv-muted")
            with ui.row().classes("items-center gap-4 q-mt-sm"):
                self.uploader = ui.upload(label="Measurements CSV", auto_upload=True, max_file_size=self.max_bytes,
                                          on_upload=self.received).props(
                    "accept=.csv,.txt flat bordered data-testid=cal-upload").classes("w-72")
                self.uploader.on_rejected(self.rejected)
                self.file = ui.label("No measurements yet.").classes("tv-muted").props("data-testid=cal-file")
            self.mapping = ui.column().classes("w-full gap-1").props("data-testid=cal-mapping")
            self.parameters()
            with ui.row().classes("items-center gap-3 q-mt-md"):
                with ui.element("span").props("data-testid=cal-run-wrap") as wrap:
                    self.button = ui.button("Calibrate", icon="tune", on_click=self.run).props(
                        "unelevated color=primary data-testid=cal-run")
                self.spinner = ui.spinner(size="md").props("data-testid=cal-running")
                self.spinner.set_visibility(False)
            if not self.can:  # a disabled button shows no tooltip: the span around it does
                self.uploader.disable()
                self.button.disable()
                wrap.tooltip(f"Calibrating needs engineer; you are {self.role_name}.")
            self.results = ui.column().classes("w-full gap-2 q-mt-md").props("data-testid=cal-results")
            self.results.set_visibility(False)

    def parameters(self) -> None:
        ui.label("Parameters: tick those to fit and give their bounds; the others keep the value shown (empty: "
                 "the model's own).").classes("tv-muted q-mt-sm")
        with ui.grid(columns="max-content minmax(0, 22rem) max-content max-content").classes(
                "gap-x-4 gap-y-1 items-center"):
            for text in ("Parameter", "Description", "Fit", "Bounds or value"):
                ui.label(text).classes("tv-section")
            for v in self.params:
                name, mark = str(v["name"]), sc.safe_id(str(v["name"]))
                ui.label(f"{name} [{v['unit']}]" if v.get("unit") else name).classes("text-weight-medium")
                ui.label(v.get("description") or "").classes("tv-muted")
                fit = ui.checkbox("fit").props(f"dense data-testid=cal-fit-{mark}")
                low, high = bounds(v.get("start"))
                with ui.row().classes("items-center gap-2 no-wrap"):
                    low_f, high_f, value_f = (ui.number(label, value=x).props(
                        f"dense outlined data-testid=cal-{key}-{mark}").classes("w-32") for label, key, x in (
                        ("Low", "low", low), ("High", "high", high), ("Value", "fix", v.get("start"))))
                row = ParamRow(name, fit, low_f, high_f, value_f, (low, high))
                fit.on_value_change(lambda _, r=row: r.show())
                row.show()
                self.rows.append(row)

    async def rejected(self) -> None:
        ui.notify(f"Not taken: choose one CSV file of at most {self.max_bytes // 1_048_576} MiB.", type="negative")

    async def received(self, e: events.UploadEventArguments) -> None:
        data, name = await e.file.read(), e.file.name
        self.uploader.reset()  # the same file may be chosen again, after editing it say
        if self.allowed(Role.ENGINEER, "calibrate FMUs") is None:  # a forged upload from a disabled control
            return
        if len(data) > self.max_bytes:  # the uploader's own limit is the browser's word only
            ui.notify(f"{name} was not read: it is larger than {self.max_bytes // 1_048_576} MiB.", type="negative")
            return
        try:
            frame = await asyncio.to_thread(read_csv, data, name)
        except TvillingError as exc:
            self.explain(exc, f"{name} was not read: ")
            return
        self.frame = frame
        columns = list(frame.columns)
        shown = ", ".join(columns[:12]) + (f", … ({len(columns) - 12} more)" if len(columns) > 12 else "")
        self.file.text = f"{name}: {len(frame):,} rows × {len(columns)} columns ({shown})"
        self.mapping_form(columns)

    def mapping_form(self, columns: list[str]) -> None:
        self.maps.clear()
        self.mapping.clear()
        by_name = {c: c for c in columns}
        with self.mapping:
            self.maps["time"] = ui.select(by_name, value=guess_time(columns), label="Time column").props(
                "dense outlined options-dense data-testid=cal-time").classes("w-56")
            with ui.grid(columns="max-content minmax(0, 22rem) 16rem").classes("gap-x-4 gap-y-1 items-center"):
                for text in ("Model variable", "Kind", "CSV column"):
                    ui.label(text).classes("tv-section")
                for kind, group, none in (("in", self.inputs, "none — use the model's value"),
                                          ("out", self.outputs, "none — not compared")):
                    for v in group:
                        name = str(v["name"])
                        ui.label(f"{name} [{v['unit']}]" if v.get("unit") else name).classes("text-weight-medium")
                        ui.label(("input, driven by" if kind == "in" else "output, measured by") +
                                 f" · {v.get('description') or ''}").classes("tv-muted")
                        self.maps[f"{kind}:{name}"] = ui.select(
                            {NONE: none, **by_name}, value=name if name in by_name else NONE).props(
                            f"dense outlined options-dense data-testid=cal-{kind}put-{sc.safe_id(name)}")

    def request(self) -> tuple[dict[str, str], dict[str, str], dict[str, list[float]], dict[str, float]]:
        """(inputs, outputs, fit, fixed values) from the form, or a ValidationError in the page's words."""
        if self.frame is None:
            raise ValidationError("no measurements yet", hint="upload a CSV of the measured inputs and outputs")
        chosen = {key: str(s.value) for key, s in self.maps.items() if key != "time" and s.value not in (None, NONE)}
        inputs = {k[3:]: c for k, c in chosen.items() if k.startswith("in:")}
        outputs = {k[4:]: c for k, c in chosen.items() if k.startswith("out:")}
        if not outputs:
            raise ValidationError("no measured output to compare with",
                                  hint="map at least one model output to the CSV column that measured it")
        fit: dict[str, list[float]] = {}
        values: dict[str, float] = {}
        for row in self.rows:
            if not row.fit.value:
                if (value := number_or_none(row.value)) is not None:
                    values[row.name] = value
                continue
            low, high = number_or_none(row.low), number_or_none(row.high)
            if low is None or high is None or not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValidationError(f"the bounds of {row.name} must be two numbers with low < high",
                                      hint=f"give a low bound below the high one, for example "
                                      f"{sc.number(row.suggest[0])} to {sc.number(row.suggest[1])}")
            fit[row.name] = [low, high]
        if not fit:
            raise ValidationError("nothing to fit", hint="tick fit for at least one parameter and give its bounds")
        return inputs, outputs, fit, values

    async def run(self) -> None:
        principal = self.allowed(Role.ENGINEER, "calibrate FMUs")  # now, not at page load: the token may be revoked
        if principal is None:
            return
        try:
            inputs, outputs, fit, values = self.request()
            frame, time_col = self.frame, str(self.maps["time"].value)
            data = await asyncio.to_thread(measurements, frame, time_col, inputs, outputs)
        except TvillingError as exc:
            self.explain(exc, "Not calibrated: ")
            return
        except (TypeError, ValueError) as exc:
            ui.notify(f"Not calibrated: not a number: {exc}", type="negative")
            return
        # NaN marks a missing measurement; it travels to the child process as JSON's NaN and back as nothing.
        request = SimulationRequest(input_times=list(data.times), values=values, fit=fit,
                                    input_columns={k: list(v) for k, v in data.inputs.items()},
                                    measured={k: list(v) for k, v in data.outputs.items()})
        answers = await guarded_runs(
            [("calibration", functools.partial(self.library.calibrate, self.tenant, self.entry["id"], request,
                                               role=principal.role))],
            button=self.button, spinner=self.spinner, explain=self.explain, fmu=str(self.entry["id"]))
        if answers is None:
            return
        result = answers["calibration"]
        if not self.current() or self.results.is_deleted:
            return  # another FMU (or this one again) was picked while this one ran: this card is gone
        self.copy = {**values, **{k: sig(v) for k, v in result.get("values", {}).items()}}
        self.show(result, data)

    def show(self, result: Mapping[str, Any], data: Measurements) -> None:
        units = {str(v["name"]): str(v.get("unit") or "") for v in self.outputs}
        self.results.clear()
        with self.results:
            with ui.row().classes("w-full items-center gap-4"):
                ui.label("Fitted").classes("tv-section")
                ui.label(summary(result)).classes("" if result.get("converged") else "text-warning").props(
                    "data-testid=cal-summary")
                ui.space()
                ui.button("Use these values", icon="input", on_click=self.use).props(
                    "outline dense data-testid=cal-use").tooltip(
                    "Copy the fitted (and fixed) parameter values into the what-if form's Scenario column and the "
                    "Uncertainty form")
            with ui.row().classes("w-full gap-6 items-start"):
                fitted = ui.table(columns=FITTED_COLUMNS, rows=fitted_rows(result), row_key="key").props(
                    "flat dense hide-bottom data-testid=cal-fitted").style("max-width: 820px")
                fitted.add_slot("body-cell", CELL.replace("TABLE", "fitted"))
                fitted.add_slot("body-cell-note", BOUND_CELL)
                rmse = ui.table(columns=RMSE_COLUMNS, rows=rmse_rows(result), row_key="key").props(
                    "flat dense hide-bottom data-testid=cal-rmse").style("max-width: 480px")
                rmse.add_slot("body-cell", CELL.replace("TABLE", "rmse"))
            with ui.grid(columns=2).classes("w-full gap-4"):
                for name, model in result.get("model", {}).items():
                    unit = result.get("units", {}).get(name) or units.get(name, "")
                    ui.echart(chart_options(name, unit, result.get("time", []), data.outputs[name], model)).classes(
                        "w-full").style("height: 280px").props(f"data-testid=cal-chart-{sc.safe_id(name)}")
        self.results.set_visibility(True)

    def use(self) -> None:
        # The Scenario column only: the baseline stays the model as delivered, so a run shows what the calibration
        # changed. In the Uncertainty form, a fixed row's value and a normal row's mean (centre the spread on it).
        copied = []
        for name, value in self.copy.items():
            if name in self.scenario_fields:
                self.scenario_fields[name].value = value
                copied.append(f"{name} {sc.number(value)}")
            for row in self.uncertainty_rows:
                if row.name == name:
                    for key in ("value", "mean"):
                        if key in row.fields:
                            row.fields[key].value = value
        ui.notify("Copied into the what-if form: " + (", ".join(copied) or "nothing") + ". Run it to see the "
                  "calibrated model.", type="positive")
