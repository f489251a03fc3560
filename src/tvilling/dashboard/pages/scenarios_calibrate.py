"""The Scenarios page's calibration card: fit an FMU's parameters to measurements (:meth:`FmuLibrary.calibrate`).

Upload a CSV of what the plant did, say which column is the time, which column drove each model input and which
measured each output, tick the parameters to fit with their bounds, and run: the fitted values with their 95 %
intervals, the error before and after, and per compared output the measurements under the fitted model. *Use
these values* copies the result into the what-if forms, so the calibrated model can be run at once. Engineers and
admins only (a calibration decides what the model is, as an upload does); the others see the card disabled. The
page (:mod:`scenarios`) hands in its role check, its error notification and the form fields to fill. The upload
and the column mapping are those of :mod:`scenarios_measurements`, shared with the residuals card.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from tvilling.app.auth import Principal
from tvilling.app.fmus import FmuLibrary
from tvilling.core.errors import TvillingError, ValidationError
from tvilling.core.roles import Role
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages import scenarios_ensemble as se
from tvilling.dashboard.pages import scenarios_measurements as sm

log = logging.getLogger(__name__)

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


class CalibrationPanel:
    """The card (built where the page calls :meth:`card`): upload, mapping, parameters, Calibrate and results."""

    def __init__(self, *, library: FmuLibrary, tenant: str, entry: Mapping[str, Any], can_calibrate: bool,
                 role_name: str, max_bytes: int, allowed: Callable[[Role, str], Principal | None],
                 explain: Callable[[TvillingError, str], None], current: Callable[[], bool],
                 scenario_fields: Mapping[str, Any], uncertainty_rows: Sequence[se.Row],
                 residual_fields: Mapping[str, Any] | None = None) -> None:
        self.library, self.tenant, self.entry = library, tenant, entry
        self.can, self.role_name = can_calibrate, role_name
        self.allowed, self.explain, self.current = allowed, explain, current
        self.scenario_fields, self.uncertainty_rows = scenario_fields, uncertainty_rows
        self.residual_fields = residual_fields if residual_fields is not None else {}
        # Only plain parameters: the engine fits nothing else (a structural parameter is fixed at instantiation).
        self.params = [v for v in sc.settable(entry.get("variables", []))
                       if v.get("type") != "Boolean" and v.get("causality") == "parameter"]
        self.data = sm.MeasurementsForm(prefix="cal", entry=entry, can=can_calibrate, max_bytes=max_bytes,
                                        reason=f"Calibrating needs engineer; you are {role_name}.",
                                        need=Role.ENGINEER, what="calibrate FMUs", allowed=allowed, explain=explain)
        self.rows: list[ParamRow] = []
        self.copy: dict[str, float] = {}  # what *Use these values* fills: fitted and fixed parameter values

    def card(self) -> None:
        self.button, self.spinner, self.results = self.data.card(
            "Calibrate on measurements", "Fit parameters so the model reproduces what the plant did: upload a CSV with "
            "a time column (seconds, or ISO 8601 times) and the measured signals, map them to the model's inputs and "
            "outputs, and tick what to fit. The model is driven by the measured inputs and its outputs are compared "
            "with the measured ones.", self.parameters, ("Calibrate", "tune", self.run))

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

    def request(self) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
        """(inputs, outputs, the request's fit and fixed values) from the form, or a ValidationError in the page's
        words."""
        inputs, outputs = self.data.mapped()
        fit: dict[str, list[float]] = {}
        values: dict[str, float] = {}
        for row in self.rows:
            if not row.fit.value:
                if (value := sm.number_or_none(row.value)) is not None:
                    values[row.name] = value
                continue
            low, high = sm.number_or_none(row.low), sm.number_or_none(row.high)
            if low is None or high is None or not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValidationError(f"the bounds of {row.name} must be two numbers with low < high",
                                      hint=f"give a low bound below the high one, for example "
                                      f"{sc.number(row.suggest[0])} to {sc.number(row.suggest[1])}")
            fit[row.name] = [low, high]
        if not fit:
            raise ValidationError("nothing to fit", hint="tick fit for at least one parameter and give its bounds")
        return inputs, outputs, {"fit": fit, "values": values}

    async def run(self) -> None:
        done = await self.data.run(
            "calibration", functools.partial(self.library.calibrate, self.tenant, self.entry["id"]), self.request,
            button=self.button, spinner=self.spinner, refused="Not calibrated")
        if done is None:
            return
        result, request, _ = done
        if not self.current() or self.results.is_deleted:
            return  # another FMU (or this one again) was picked while this one ran: this card is gone
        self.copy = {**request.values, **{k: sig(v) for k, v in result.get("values", {}).items()}}
        self.show(result, request.measured)

    def show(self, result: Mapping[str, Any], measured: Mapping[str, list[float]]) -> None:
        units = {str(v["name"]): str(v.get("unit") or "") for v in self.data.outputs}
        self.results.clear()
        with self.results:
            with ui.row().classes("w-full items-center gap-4"):
                ui.label("Fitted").classes("tv-section")
                ui.label(summary(result)).classes("" if result.get("converged") else "text-warning").props(
                    "data-testid=cal-summary")
                ui.space()
                ui.button("Use these values", icon="input", on_click=self.use).props(
                    "outline dense data-testid=cal-use").tooltip(
                    "Copy the fitted (and fixed) parameter values into the what-if form's Scenario column, the "
                    "Uncertainty form and the residuals card")
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
                    ui.echart(sc.measured_options(name, unit, result.get("time", []), measured[name],
                                                  model)).classes(
                        "w-full").style("height: 280px").props(f"data-testid=cal-chart-{sc.safe_id(name)}")
        self.results.set_visibility(True)

    def use(self) -> None:
        # The Scenario column only: the baseline stays the model as delivered, so a run shows what the calibration
        # changed. In the Uncertainty form, a fixed row's value and a normal row's mean (centre the spread on it);
        # in the residuals card, the values its model runs with.
        copied = []
        for name, value in self.copy.items():
            if name in self.scenario_fields:
                self.scenario_fields[name].value = value
                copied.append(f"{name} {sc.number(value)}")
            if name in self.residual_fields:
                self.residual_fields[name].value = value
            for row in self.uncertainty_rows:
                if row.name == name:
                    for key in ("value", "mean"):
                        if key in row.fields:
                            row.fields[key].value = value
        ui.notify("Copied into the what-if form: " + (", ".join(copied) or "nothing") + ". Run it to see the "
                  "calibrated model.", type="positive")
