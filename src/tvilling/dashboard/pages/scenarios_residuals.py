"""The Scenarios page's residuals card: where did the asset stop behaving like its model? (:meth:`FmuLibrary.residuals`,
:mod:`tvilling.simulation.residuals`).

Upload a CSV of what the plant did and map its columns, as on the calibration card (the upload and mapping are
:mod:`scenarios_measurements`, shared with it); give the parameter values the model runs with (prefilled with the
model's start values, and filled by the calibration card's *Use these values*) and how many leading rows are a
healthy reference (empty: the first 20 %). The model is driven by the measured inputs and each measured output
compared with the model's: per output a chart of both, a chart of the residual with its anomalous rows and fault
episodes marked, its statistics over the reference and after it, the episodes after the reference (as timestamps
when the CSV's time column holds them) and a one-line verdict. Operators and above (it changes nothing); the
others see the card disabled with the reason. The page (:mod:`scenarios`) hands in its role check and its error
notification.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from nicegui import ui

from tvilling.app.auth import Principal
from tvilling.app.fmus import FmuLibrary
from tvilling.core.errors import TvillingError, ValidationError
from tvilling.core.roles import Role
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages import scenarios_measurements as sm
from tvilling.dashboard.pages.scenarios_ensemble import whole
from tvilling.simulation.residuals import MIN_REFERENCE_ROWS

log = logging.getLogger(__name__)

RUN = "residual analysis"  # the run's name in a failure's notification
PARAMETERS = ("parameter", "structuralParameter")
# (field, label, alignment) per column
STATS_COLUMNS = sc.table_columns(
    ("output", "Output", "left"), ("unit", "Unit", "left"), ("biasReference", "Bias, reference", "right"),
    ("rmseReference", "RMSE, reference", "right"), ("biasAfter", "Bias after", "right"),
    ("rmseAfter", "RMSE after", "right"), ("maxAbsAfter", "Max |residual| after", "right"),
    ("anomalous", "Anomalous rows after", "right"))
EPISODE_COLUMNS = sc.table_columns(
    ("start", "Start", "left"), ("end", "End", "left"), ("rows", "Rows", "right"), ("peak", "Peak × limit", "right"),
    ("outputs", "Outputs", "left"), ("mean", "Mean residual", "left"))
CELL = r'''
<q-td :props="props" :data-testid="'res-TABLE-' + props.col.name + '-' + props.row.key">{{ props.value }}</q-td>'''


def when(origin: datetime | None, t: float) -> str:
    """A time of the data: an ISO 8601 UTC timestamp when the CSV had timestamps, else its seconds."""
    if origin is None:
        return f"{sc.number(t)} s"
    return (origin + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")


def signed(value: Any, form: str = "+.4g") -> str:
    return "–" if value is None else format(value, form)


def with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit and text != "–" else text


def after_reference(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The episodes that reach past the healthy reference (those within it say the reference was not healthy)."""
    return [e for e in result.get("episodes", []) if e.get("afterReference")]


def stats_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    units = result.get("units", {})
    return [{"key": sc.safe_id(name), "output": name, "unit": units.get(name) or "–",
             "biasReference": signed(st.get("biasReference")), "rmseReference": signed(st.get("rmseReference"), ".4g"),
             "biasAfter": signed(st.get("biasAfter")), "rmseAfter": signed(st.get("rmseAfter"), ".4g"),
             "maxAbsAfter": signed(st.get("maxAbsAfter"), ".4g"), "anomalous": int(st.get("anomalousRowsAfter") or 0)}
            for name, st in result.get("stats", {}).items()]


def episode_rows(result: Mapping[str, Any], origin: datetime | None) -> list[dict[str, Any]]:
    units = result.get("units", {})
    return [{"key": i, "start": when(origin, e["start"]), "end": when(origin, e["end"]), "rows": e["rows"],
             "peak": f"{e['peakScore']:.3g}×", "outputs": ", ".join(e["outputs"]),
             "mean": " · ".join(with_unit(f"{k} {signed(v)}", units.get(k, "")) for k, v in e["meanResidual"].items())}
            for i, e in enumerate(after_reference(result), start=1)]


def verdict(result: Mapping[str, Any], origin: datetime | None) -> str:
    """'2 episodes after the reference, the first from 2026-11-24T00:45:00Z on T: …' or '… behaves like its model'."""
    after = after_reference(result)
    within = len(result.get("episodes", [])) - len(after)
    note = (f" ({within} episode{'' if within == 1 else 's'} within the reference itself: is it healthy?)"
            if within else "")
    if not after:
        return "No episode after the reference: the asset behaves like its model" + note
    first = after[0]
    return (f"{len(after)} episode{'' if len(after) == 1 else 's'} after the reference, the first from "
            f"{when(origin, first['start'])} on {', '.join(first['outputs'])}: the asset no longer behaves like its "
            f"model ({int(result.get('anomalousRows') or 0):,} anomalous rows)" + note)


def summary(result: Mapping[str, Any], origin: datetime | None, seconds: float) -> str:
    times, ref, charts = result.get("time", []), int(result.get("referenceRows") or 0), result.get("charts", {})
    end = f", to {when(origin, times[ref - 1])}" if 0 < ref <= len(times) else ""
    return (f"{len(times):,} samples compared · healthy reference: the first {ref:,} rows{end} · limits: EWMA "
            f"(λ {sc.number(charts.get('ewmaWeight'))}) at {sc.number(charts.get('ewmaLimit'))} and single residuals "
            f"at {sc.number(charts.get('pointLimit'))} reference spreads · {seconds:.1f} s")


def axis_name(result: Mapping[str, Any], origin: datetime | None) -> str:
    times = result.get("time", [])
    name = sc.time_axis(float(times[-1]) if times else 0.0)[1]
    return f"{name} from {when(origin, 0.0)}" if origin is not None else name


class ResidualsPanel:
    """The card (built where the page calls :meth:`card`): upload, mapping, parameter values, reference, Run and
    results. :attr:`fields` (parameter name -> its number field) is what the calibration card's *Use these values*
    fills."""

    def __init__(self, *, library: FmuLibrary, tenant: str, entry: Mapping[str, Any], can_run: bool, role_name: str,
                 max_bytes: int, allowed: Callable[[Role, str], Principal | None],
                 explain: Callable[[TvillingError, str], None], current: Callable[[], bool]) -> None:
        self.library, self.tenant, self.entry = library, tenant, entry
        self.can, self.role_name = can_run, role_name
        self.allowed, self.explain, self.current = allowed, explain, current
        self.params: Sequence[Mapping[str, Any]] = [
            v for v in sc.settable(entry.get("variables", []))
            if v.get("type") != "Boolean" and v.get("causality") in PARAMETERS]
        self.data = sm.MeasurementsForm(prefix="res", entry=entry, can=can_run, max_bytes=max_bytes,
                                        reason=f"Analysing residuals needs operator; you are {role_name}.",
                                        need=Role.OPERATOR, what="analyse FMU residuals", allowed=allowed,
                                        explain=explain)
        self.fields: dict[str, Any] = {}

    def card(self) -> None:
        self.button, self.spinner, self.results = self.data.card(
            "Residuals: does the asset still behave like its model?", "Upload a CSV of measurements, map its columns "
            "to the model's inputs and outputs, and run: the model is driven by the measured inputs and each measured "
            "output is compared with the model's. The residuals (measured − model) of the first rows, a period known "
            "to be healthy, set control limits; rows beyond them after it are anomalous, and close ones form fault "
            "episodes that name the outputs.", self.parameters, ("Analyse residuals", "troubleshoot", self.run))

    def parameters(self) -> None:
        ui.label("The values the model runs with (prefilled with its own; *Use these values* on the calibration "
                 "card fills in the fitted ones; empty: the model's own) and the healthy reference.").classes(
            "tv-muted q-mt-sm")
        with ui.row().classes("items-end gap-4"):
            for v in self.params:
                name = str(v["name"])
                self.fields[name] = ui.number(f"{name} [{v['unit']}]" if v.get("unit") else name,
                                              value=v.get("start")).props(
                    f"dense outlined data-testid=res-value-{sc.safe_id(name)}").classes("w-40").tooltip(
                    str(v.get("description") or name))
            self.reference = ui.number("Healthy reference rows", min=MIN_REFERENCE_ROWS, step=1,
                                       placeholder="20 %").props(
                "dense outlined data-testid=res-reference").classes("w-48").tooltip(
                "How many leading rows are known to be healthy (the rows the model was calibrated on, say); "
                "empty: the first 20 %")

    def request(self) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
        """(inputs, outputs, the request's values and reference rows) from the form, or a ValidationError in the
        page's words."""
        inputs, outputs = self.data.mapped()
        values = {name: x for name, element in self.fields.items() if (x := sm.number_or_none(element)) is not None}
        rows = None
        if self.reference.value not in (None, ""):
            try:
                rows = whole(self.reference.value, "the healthy reference rows", 1)
            except ValueError as exc:
                raise ValidationError(str(exc), hint="give how many leading rows are healthy, or leave it empty "
                                      "for the first 20 %") from None
        return inputs, outputs, {"values": values, "reference_rows": rows}

    async def run(self) -> None:
        began = time.perf_counter()
        done = await self.data.run(RUN, functools.partial(self.library.residuals, self.tenant, self.entry["id"]),
                                   self.request, button=self.button, spinner=self.spinner, refused="Not analysed")
        if done is None or not self.current() or self.results.is_deleted:
            return  # failed (already said), or another FMU (or this one again) was picked: this card is gone
        self.show(done[0], done[2], time.perf_counter() - began)

    def show(self, result: Mapping[str, Any], origin: datetime | None, seconds: float) -> None:
        units = {str(v["name"]): str(v.get("unit") or "") for v in self.data.outputs}
        x_name = axis_name(result, origin)
        found = bool(after_reference(result))
        self.results.clear()
        with self.results:
            ui.label(verdict(result, origin)).classes(
                "text-subtitle1 text-weight-medium " + ("text-negative" if found else "text-positive")).props(
                "data-testid=res-verdict")
            ui.label(summary(result, origin, seconds)).classes("tv-muted").props("data-testid=res-summary")
            with ui.grid(columns=2).classes("w-full gap-4"):
                for name in result.get("residual", {}):
                    unit, mark = result.get("units", {}).get(name) or units.get(name, ""), sc.safe_id(name)
                    ui.echart(sc.measured_options(name, unit, result["time"], result["measured"][name],
                                                  result["model"][name], model_label="model", x_name=x_name)
                              ).classes("w-full").style("height: 280px").props(f"data-testid=res-chart-{mark}")
                    ui.echart(sc.residual_options(name, unit, result, x_name)).classes("w-full").style(
                        "height: 280px").props(f"data-testid=res-residual-{mark}")
            ui.label("Residual statistics").classes("tv-section")
            stats = ui.table(columns=STATS_COLUMNS, rows=stats_rows(result), row_key="key").props(
                "flat dense hide-bottom data-testid=res-stats").classes("w-full").style("max-width: 1100px")
            stats.add_slot("body-cell", CELL.replace("TABLE", "stats"))
            episodes = episode_rows(result, origin)
            if episodes:
                ui.label("Fault episodes after the reference").classes("tv-section")
                table = ui.table(columns=EPISODE_COLUMNS, rows=episodes, row_key="key",
                                 pagination={"rowsPerPage": 10} if len(episodes) > 10 else None).props(
                    "flat dense data-testid=res-episodes" + ("" if len(episodes) > 10 else " hide-bottom")).classes(
                    "w-full").style("max-width: 1100px")
                table.add_slot("body-cell", CELL.replace("TABLE", "episodes"))
        self.results.set_visibility(True)
