"""The Scenarios page's Uncertainty mode: a Monte Carlo run of one FMU (:meth:`FmuLibrary.ensemble`).

Per parameter and input the form offers a distribution (fixed, normal, uniform, triangular) with the numbers it
needs, prefilled around the model's start value so a first run needs no typing; then the number of samples, the
seed and at most one limit on an output. The result is a band chart per output, the final values' statistics, one
sentence per limit and the bands as CSV. The page (:mod:`scenarios`) owns the card around the form and hands in
its role check, its error notification and its span, so both modes run over the same span and speak alike.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from tvilling.app.auth import Principal
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.app.fmus import FmuLibrary
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages.scenarios_run import guarded_runs

log = logging.getLogger(__name__)

DISTRIBUTIONS = {"fixed": "fixed", "normal": "normal", "uniform": "uniform", "triangular": "triangular"}
# The numbers each distribution needs, in the engine's names (tvilling.simulation.ensemble); uniform and
# triangular share their low and high fields, so switching between them keeps what was typed.
PARAMS: dict[str, tuple[str, ...]] = {"fixed": ("value",), "normal": ("mean", "sd"), "uniform": ("low", "high"),
                                      "triangular": ("low", "mode", "high")}
LABELS = {"value": "Value", "mean": "Mean", "sd": "Std. dev.", "low": "Low", "mode": "Most likely", "high": "High"}
NO_LIMIT = ""
MIN_SAMPLES, MAX_SAMPLES = 2, 1000
FINAL_COLUMNS: list[dict[str, Any]] = [
    {"name": "output", "label": "Output", "field": "output", "align": "left"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "p50", "label": "Median", "field": "p50", "align": "right"},
    {"name": "p5", "label": "5 %", "field": "p5", "align": "right"},
    {"name": "p95", "label": "95 %", "field": "p95", "align": "right"},
    {"name": "mean", "label": "Mean", "field": "mean", "align": "right"},
    {"name": "sd", "label": "Std. dev.", "field": "sd", "align": "right"},
]
FINAL_CELL = r'''
<q-td :props="props" :data-testid="'ens-final-' + props.col.name + '-' + props.row.key">{{ props.value }}</q-td>'''


def prefill(start: Any) -> dict[str, Any]:
    """Starting numbers around the model's start value: ±10 % of it (±1 where it is 0), so a spread is valid
    as soon as a distribution is picked."""
    centre = float(start) if isinstance(start, int | float) and not isinstance(start, bool) else 0.0
    spread = float(f"{abs(centre) * 0.1:.12g}") or 1.0  # 0.1 * 0.3 is 0.030000000000000002 otherwise
    return {"value": start, "mean": centre, "sd": spread, "low": float(f"{centre - spread:.12g}"), "mode": centre,
            "high": float(f"{centre + spread:.12g}")}


def whole(value: Any, what: str, low: int, high: int | None = None) -> int:
    if value is None or value == "" or not float(value).is_integer():
        raise ValueError(f"{what} must be a whole number")
    number = int(float(value))
    if number < low or (high is not None and number > high):
        raise ValueError(f"{what} must be between {low} and {high}" if high is not None else
                         f"{what} must be {low} or more")
    return number


@dataclass
class Row:
    """One parameter or input of the form: its distribution select (None for a boolean, which stays fixed) and
    its number fields by engine name."""

    name: str
    dist: Any
    fields: dict[str, Any]

    def kind(self) -> str:
        return str(self.dist.value) if self.dist is not None else "fixed"

    def show(self) -> None:
        for key, element in self.fields.items():
            element.set_visibility(key in PARAMS[self.kind()])


def read_spread(rows: Sequence[Row]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(vary, values) from the form: a fixed row with an empty field keeps the model's own value."""
    vary: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}
    for row in rows:
        kind = row.kind()
        if kind == "fixed":
            value = row.fields["value"].value
            if value is not None and value != "":
                values[row.name] = bool(value) if isinstance(value, bool) else float(value)
            continue
        spec: dict[str, Any] = {"dist": kind}
        for key in PARAMS[kind]:
            value = row.fields[key].value
            if value is None or value == "":
                raise ValueError(f"the {kind} spread of {row.name} needs its {LABELS[key].lower()}")
            spec[key] = float(value)
        vary[row.name] = spec
    return vary, values


class UncertaintyPanel:
    """The form (built where the page calls :meth:`form`), its Run button and its results card."""

    def __init__(self, *, library: FmuLibrary, tenant: str, entry: Mapping[str, Any],
                 settable_vars: Sequence[Mapping[str, Any]], can_run: bool, role_name: str,
                 allowed: Callable[[Role, str], Principal | None], explain: Callable[[TvillingError, str], None],
                 span: Callable[[], tuple[float | None, float | None, float | None]],
                 current: Callable[[], bool]) -> None:
        self.library, self.tenant, self.entry, self.vars = library, tenant, entry, settable_vars
        self.can_run, self.role_name = can_run, role_name
        self.allowed, self.explain, self.span, self.current = allowed, explain, span, current
        self.rows: list[Row] = []
        self.result: dict[str, Any] | None = None
        self.active = False

    def form(self) -> None:
        ui.label("Give each uncertain parameter or input a distribution; the model then runs once per sample, "
                 "with values drawn evenly over every spread (Latin hypercube), and the chart shows the range "
                 "the outputs fall in. A fixed row with an empty field keeps the model's own value."
                 ).classes("tv-muted")
        with ui.grid(columns="max-content minmax(0, 22rem) 9rem max-content").classes(
                "gap-x-4 gap-y-1 items-center q-mt-sm"):
            for text in ("Variable", "Description", "Distribution", "Values"):
                ui.label(text).classes("tv-section")
            for v in self.vars:
                self.rows.append(self._row(v))
        outputs = [str(v["name"]) for v in sc.outputs(self.entry.get("variables", []))]
        with ui.row().classes("items-end gap-4 q-mt-md"):
            self.samples = ui.number("Samples", value=100, min=MIN_SAMPLES, max=MAX_SAMPLES, step=10,
                                     precision=0).props("dense data-testid=ens-samples").classes("w-28")
            self.seed = ui.number("Seed", value=0, min=0, step=1, precision=0).props(
                "dense data-testid=ens-seed").classes("w-24").tooltip("The same seed draws the same samples")
            self.limit_output = ui.select({NO_LIMIT: "no limit", **{n: n for n in outputs}}, value=NO_LIMIT,
                                          label="Limit on").props("dense data-testid=ens-limit-output"
                                                                  ).classes("w-36")
            self.limit_side = ui.toggle({"above": "above", "below": "below"}, value="above").props(
                "dense no-caps data-testid=ens-limit-side")
            self.limit_level = ui.number("Level").props("dense data-testid=ens-limit-level").classes("w-28")
        with ui.row().classes("items-center gap-3 q-mt-md"):
            with ui.element("span").props("data-testid=ens-run-wrap") as wrap:
                self.button = ui.button("Run uncertainty study", icon="play_arrow", on_click=self.run).props(
                    "unelevated color=primary data-testid=ens-run")
            self.spinner = ui.spinner(size="md").props("data-testid=ens-running")
            self.spinner.set_visibility(False)
            if not self.can_run:  # a disabled button shows no tooltip: the span around it does
                self.button.disable()
                wrap.tooltip(f"Running uncertainty studies needs operator; you are {self.role_name}.")

    def _row(self, v: Mapping[str, Any]) -> Row:
        name, mark = str(v["name"]), sc.safe_id(str(v["name"]))
        ui.label(f"{name} [{v['unit']}]" if v.get("unit") else name).classes("text-weight-medium")
        ui.label(f"{v.get('causality')} · {v.get('description') or ''}").classes("tv-muted")
        if v.get("type") == "Boolean":  # a switch has no spread: it is on or off in every sample
            ui.label("fixed").classes("tv-muted")
            return Row(name, None, {"value": ui.checkbox(value=bool(v.get("start"))).props(
                f"dense data-testid=ens-value-{mark}")})
        dist = ui.select(DISTRIBUTIONS, value="fixed").props(f"dense outlined options-dense data-testid=ens-dist-"
                                                             f"{mark}")
        start = prefill(v.get("start"))
        with ui.row().classes("items-center gap-2 no-wrap"):
            fields = {key: ui.number(LABELS[key], value=start[key]).props(
                f"dense outlined data-testid=ens-{key}-{mark}").classes("w-28") for key in LABELS}
        row = Row(name, dist, fields)
        dist.on_value_change(lambda _: row.show())
        row.show()
        return row

    def results_card(self) -> None:
        self.results = ui.card().classes("tv-card q-pa-md w-full").props("data-testid=ens-results")
        self.results.set_visibility(False)

    def set_active(self, active: bool) -> None:
        """The page's mode switch: this mode's results show only while it is the chosen mode."""
        self.active = active
        self.results.set_visibility(active and self.result is not None)

    def limits(self) -> dict[str, tuple[str, float]]:
        output = self.limit_output.value
        if output in (None, NO_LIMIT):
            return {}
        level = self.limit_level.value
        if level is None or level == "":
            raise ValueError(f"give the level of the limit on {output}, or choose no limit")
        return {str(output): (str(self.limit_side.value), float(level))}

    async def run(self) -> None:
        principal = self.allowed(Role.OPERATOR, "run uncertainty studies")
        if principal is None:
            return
        try:
            t0, t1, dt = self.span()
            vary, values = read_spread(self.rows)
            samples = whole(self.samples.value, "Samples", MIN_SAMPLES, MAX_SAMPLES)
            seed = whole(self.seed.value, "The seed", 0)
            limits = self.limits()
        except (TypeError, ValueError) as exc:
            ui.notify(f"Not run: {exc}.", type="negative")
            return
        if not vary:  # the library says so too, but in its API's words
            ui.notify("Not run: nothing is uncertain. Choose a distribution other than fixed for at least one "
                      "parameter or input.", type="negative")
            return
        request = SimulationRequest(start_time=t0, stop_time=t1, step=dt, values=values, vary=vary,
                                    samples=samples, seed=seed, limits=limits)
        answers = await guarded_runs(
            [("uncertainty run", functools.partial(self.library.ensemble, self.tenant, self.entry["id"], request,
                                                   role=principal.role))],
            button=self.button, spinner=self.spinner, explain=self.explain, fmu=str(self.entry["id"]))
        if answers is None:
            return
        result = answers["uncertainty run"]
        if not self.current() or self.results.is_deleted:
            return  # another FMU (or this one again) was picked while this one ran: this form is gone
        self.result = result
        self.show(result, limits, values)

    def show(self, result: Mapping[str, Any], limits: Mapping[str, tuple[str, float]],
             values: Mapping[str, Any]) -> None:
        units = {str(v["name"]): str(v.get("unit") or "") for v in sc.outputs(self.entry.get("variables", []))}
        self.results.clear()
        with self.results:
            with ui.row().classes("w-full items-center gap-4"):
                ui.label("Uncertainty").classes("tv-section")
                ui.label(sc.spread_text(self.vars, result.get("vary", {}), values)).props("data-testid=ens-spread")
                ui.space()
                ui.label(f"{sc.runs_text(int(result['samples']))} of {result['steps']:,} steps of "
                         f"{sc.number(result['step'])} s, seed {result.get('seed', 0)}, "
                         f"{float(result.get('seconds') or 0.0):.1f} s of simulation").classes("tv-muted")
                ui.button("Download CSV", icon="download", on_click=self.download).props(
                    "outline dense data-testid=ens-download").tooltip(
                    "Time and, per output, its 5, 25, 50, 75 and 95 % bands and mean")
            for line in sc.exceedance_lines(result, limits):
                ui.label(line).classes("text-subtitle1 text-weight-medium").props("data-testid=ens-exceedance")
            if result.get("failed"):
                ui.label(sc.refused_text(int(result["failed"]))).classes("text-warning").props(
                    "data-testid=ens-failed")
            with ui.grid(columns=2).classes("w-full gap-4"):
                for name in result["bands"]:
                    unit = result.get("units", {}).get(name) or units.get(name, "")
                    ui.echart(sc.band_options(name, unit, result)).classes("w-full").style("height: 280px").props(
                        f"data-testid=ens-chart-{sc.safe_id(name)}")
            ui.label("At the end of the run").classes("tv-section")
            finals = ui.table(columns=FINAL_COLUMNS, rows=sc.ensemble_final_rows(result), row_key="key").props(
                "flat dense hide-bottom data-testid=ens-finals").classes("w-full").style("max-width: 860px")
            finals.add_slot("body-cell", FINAL_CELL)
        self.results.set_visibility(self.active)

    def download(self) -> None:
        if self.result is not None:
            ui.download.content(sc.band_csv_bytes(self.result),
                                f"{sc.file_stem(str(self.entry['name']))}-uncertainty.csv", "text/csv")
