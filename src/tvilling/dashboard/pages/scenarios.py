"""Scenarios: what-if simulation over the FMU library (docs of the library: :mod:`tvilling.app.fmus`). Pick a model,
change some of its parameters or inputs, and see how each output would differ from the baseline over the run and
at its end; download the scenario's outputs as CSV. Or, in the Uncertainty mode (:mod:`scenarios_ensemble`), give
uncertain values a spread and see the range each output falls in over many runs. Below, fit the model to
measurements (:mod:`scenarios_calibrate`) and see where the asset stops behaving like it
(:mod:`scenarios_residuals`). Nothing is stored by a run.

Viewers read the library; operators run scenarios; engineers and admins upload and delete FMUs (an FMU is native
code the server will run). The library itself checks no roles, so every action here re-checks the signed-in
principal before calling it: hiding a control is never the only guard (a forged event from a viewer's browser is
refused below).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Any

from nicegui import events, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.auth import Principal
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.app.fmus import FmuLibrary, fmu_library
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell
from tvilling.dashboard.pages import scenarios_calibrate as scal
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages import scenarios_ensemble as se
from tvilling.dashboard.pages import scenarios_residuals as sres
from tvilling.dashboard.pages.scenarios_run import guarded_runs

log = logging.getLogger(__name__)

LIBRARY_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "modelName", "label": "Model", "field": "modelName", "align": "left", "sortable": True},
    {"name": "fmiVersion", "label": "FMI", "field": "fmiVersion", "align": "left"},
    {"name": "variables", "label": "Variables", "field": "variables", "align": "right"},
    {"name": "createdBy", "label": "Uploaded by", "field": "createdBy", "align": "left"},
    {"name": "created", "label": "Uploaded (UTC)", "field": "createdSort", "align": "left", "sortable": True},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
CREATED_SLOT = r'<q-td :props="props">{{ props.row.created }}</q-td>'
ACTION_SLOT = r'''
<q-td :props="props" auto-width><q-btn v-if="props.row.canDelete" dense flat size="sm" icon="delete"
  color="negative" :data-testid="'fmu-delete-' + props.row.id"
  @click.stop="() => $parent.$emit('remove', props.row.id)"><q-tooltip>Delete from the library</q-tooltip></q-btn>
</q-td>'''
VARIABLE_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "causality", "label": "Kind", "field": "causality", "align": "left"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "start", "label": "Start", "field": "start", "align": "right"},
    {"name": "description", "label": "Description", "field": "description", "align": "left"},
]
FINAL_COLUMNS: list[dict[str, Any]] = [
    {"name": "output", "label": "Output", "field": "output", "align": "left"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "baseline", "label": "Baseline", "field": "baseline", "align": "right"},
    {"name": "scenario", "label": "Scenario", "field": "scenario", "align": "right"},
    {"name": "difference", "label": "Difference", "field": "difference", "align": "right"},
]
FINAL_CELL = r'''
<q-td :props="props" :data-testid="'final-' + props.col.name + '-' + props.row.key">{{ props.value }}</q-td>'''


def explain(exc: TvillingError, prefix: str = "") -> None:
    # The hint is the caption: what to do about it, under what went wrong. ``where`` is left out: the library
    # words it for the API and the CLI (a JSON path, a --flag), which means nothing on this page.
    ui.notify(prefix + exc.message, type="negative", caption=exc.hint or None, multi_line=True,
              close_button="Close", timeout=12_000)


def read_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """name -> value of the form's fields; an empty one is left to the model's own start value."""
    out: dict[str, Any] = {}
    for name, element in fields.items():
        value = element.value
        if value is not None and value != "":
            out[name] = bool(value) if isinstance(value, bool) else float(value)
    return out


def optional(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


@ui.page("/scenarios", title="Tvilling · scenarios")
async def scenarios_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/scenarios", "Scenarios")
    dash, tenant = session.dash, session.tenant
    library: FmuLibrary = fmu_library(dash.app_state, dash.services)
    max_bytes = int(getattr(getattr(dash.app_state, "settings", None), "max_upload_bytes", 64 * 1_048_576))
    can_edit, can_run = session.can(Role.ENGINEER), session.can(Role.OPERATOR)
    chosen: dict[str, Any] = {"fmu": None, "vars": []}  # the selected FMU's entry and its settable variables
    base_fields: dict[str, Any] = {}
    scen_fields: dict[str, Any] = {}
    last: dict[str, Any] = {"scen": None, "name": ""}

    def allowed(need: Role, what: str) -> Principal | None:
        # Re-verified now, not at page load: a token revoked since then stops here, as it would at the API.
        principal = dash.principal(session.browser_id)
        if principal is None or not principal.role.allows(need):
            role = principal.role.value if principal is not None else "signed-out"
            ui.notify(f"The {role} role cannot {what}; it needs {need.value}.", type="negative")
            return None
        return principal

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("w-full items-center gap-4"):
                ui.label("FMU library").classes("tv-title")
                ui.space()
                if can_edit:
                    upload_name = ui.input("Name (optional)").props(
                        "dense outlined maxlength=200 data-testid=fmu-upload-name").classes("w-56")
                    uploader = ui.upload(label="Upload FMU", auto_upload=True, max_file_size=max_bytes).props(
                        "accept=.fmu flat bordered data-testid=fmu-upload").classes("w-72")
            ui.label("Co-simulation FMUs (FMI 2.0 or 3.0) with a Linux x86-64 binary. Click a row to run what-if "
                     "scenarios on it." + ("" if can_edit else f" Uploading and deleting FMUs needs engineer; "
                                           f"you are {session.principal.role.value}.")).classes("tv-muted")
            table = ui.table(columns=LIBRARY_COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 10}).props(
                "flat dense wrap-cells data-testid=fmu-table").classes("w-full cursor-pointer")
            table.add_slot("body-cell-created", CREATED_SLOT)
            table.add_slot("body-cell-action", ACTION_SLOT)
            table.add_slot("no-data", '<div class="tv-muted q-pa-md">No FMUs in the library yet.</div>')
        details = ui.column().classes("w-full gap-4").props("data-testid=fmu-details")

    with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 420px").props(
            "data-testid=fmu-dialog"):
        dialog_text = ui.label("").props("data-testid=fmu-dialog-text")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Back", on_click=dialog.close).props("flat data-testid=fmu-dialog-cancel")
            ui.button("Delete", on_click=lambda: dialog.submit(True)).props(
                "unelevated color=negative data-testid=fmu-dialog-confirm")

    async def refresh() -> None:
        items = await asyncio.to_thread(library.list, tenant)
        table.rows = sc.library_rows(items, can_edit)
        table.update()

    async def received(e: events.UploadEventArguments) -> None:
        data = await e.file.read()
        name = (upload_name.value or "").strip() or None
        uploader.reset()  # the same file may be chosen again (after a delete, say)
        principal = allowed(Role.ENGINEER, "upload FMUs")
        if principal is None:
            return
        if len(data) > max_bytes:  # the uploader's own limit is the browser's word only
            ui.notify(f"{e.file.name} was not added: it is larger than {max_bytes // 1_048_576} MiB.",
                      type="negative")
            return
        try:
            entry = await asyncio.to_thread(lambda: library.upload(tenant, data, principal.context(),
                                                                   role=principal.role, name=name))
        except TvillingError as exc:
            explain(exc, f"{e.file.name} was not added: ")
            return
        upload_name.value = ""
        ui.notify(f"{entry['name']} added to the library ({entry['fmiVersion']}, "
                  f"{len(entry.get('variables', []))} variables)", type="positive")
        await refresh()
        await select(entry["id"])

    async def remove(fmu: str) -> None:
        if allowed(Role.ENGINEER, "delete FMUs") is None:
            return
        try:
            entry = await asyncio.to_thread(library.get, tenant, fmu)
        except TvillingError as exc:
            explain(exc)
            return
        dialog_text.text = f"Delete {entry['name']} ({entry['modelName']}, {fmu}) from the library? Scenarios " \
                           "can no longer run on it."
        if not await dialog:
            return
        principal = allowed(Role.ENGINEER, "delete FMUs")  # again: the dialog may have stayed open a long time
        if principal is None:
            return
        try:
            await asyncio.to_thread(lambda: library.delete(tenant, fmu, principal.context(), role=principal.role))
        except TvillingError as exc:
            explain(exc)
            return
        ui.notify(f"{entry['name']} deleted", type="positive")
        if chosen["fmu"] is not None and chosen["fmu"]["id"] == fmu:
            chosen["fmu"] = None
            details.clear()
        await refresh()

    async def select(fmu: str) -> None:
        try:
            entry = await asyncio.to_thread(library.get, tenant, fmu)
        except TvillingError as exc:  # deleted in another tab, say
            explain(exc)
            await refresh()
            return
        chosen["fmu"], chosen["vars"] = entry, sc.settable(entry.get("variables", []))
        last["scen"] = None
        base_fields.clear()
        scen_fields.clear()
        details.clear()
        with details:
            render(entry)

    def render(entry: Mapping[str, Any]) -> None:
        variables = entry.get("variables", [])
        exp = entry.get("defaultExperiment") or {}
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-baseline gap-3"):
                ui.label(str(entry["name"])).classes("tv-title").props("data-testid=fmu-selected")
                ui.label(f"{entry.get('modelName', '')} · FMI {entry.get('fmiVersion', '')} · {entry['id']}"
                         ).classes("tv-muted")
            if entry.get("description"):
                ui.label(str(entry["description"]))
            ui.label(sc.experiment_text(exp)).classes("tv-muted").props("data-testid=fmu-experiment")
            ui.table(columns=VARIABLE_COLUMNS, rows=sc.variable_rows(variables), row_key="key").props(
                "flat dense wrap-cells hide-bottom :rows-per-page-options=[0] data-testid=fmu-variables"
            ).classes("w-full")
        panel = se.UncertaintyPanel(
            library=library, tenant=tenant, entry=entry, settable_vars=chosen["vars"], can_run=can_run,
            role_name=session.principal.role.value, allowed=allowed, explain=explain,
            span=lambda: (optional(start.value), optional(stop.value), optional(step.value)),
            current=lambda: chosen["fmu"] is not None and chosen["fmu"]["id"] == entry["id"])
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("w-full items-center gap-4"):
                ui.label("What if…").classes("tv-section")
                ui.space()
                mode = ui.toggle({"compare": "Compare two runs", "uncertainty": "Uncertainty"}, value="compare"
                                 ).props("no-caps data-testid=scn-mode")
            with ui.row().classes("items-end gap-4"):
                start = ui.number("Start time [s]", value=exp.get("startTime") or 0.0).props(
                    "dense data-testid=scn-start").classes("w-36")
                stop = ui.number("Stop time [s]", value=exp.get("stopTime"), min=0).props(
                    "dense data-testid=scn-stop").classes("w-36")
                step = ui.number("Step [s]", value=exp.get("stepSize"), min=0).props(
                    "dense data-testid=scn-step").classes("w-36")
            with ui.column().classes("w-full gap-1 q-mt-sm") as compare_box:
                ui.label("The baseline is the model as delivered; change some scenario values and run both. An "
                         "empty field keeps the model's own value; inputs hold their value over the whole run."
                         ).classes("tv-muted")
                with ui.grid(columns="max-content minmax(0, 28rem) 10rem 10rem").classes(
                        "gap-x-4 gap-y-1 items-center q-mt-sm"):
                    for text in ("Variable", "Description", "Baseline", "Scenario"):
                        ui.label(text).classes("tv-section")
                    for v in chosen["vars"]:
                        name, mark = str(v["name"]), sc.safe_id(str(v["name"]))
                        unit = f" [{v['unit']}]" if v.get("unit") else ""
                        ui.label(f"{name}{unit}").classes("text-weight-medium")
                        ui.label(f"{v.get('causality')} · {v.get('description') or ''}").classes("tv-muted")
                        for fields, side in ((base_fields, "base"), (scen_fields, "scen")):
                            if v.get("type") == "Boolean":
                                fields[name] = ui.checkbox(value=bool(v.get("start"))).props(
                                    f"dense data-testid={side}-{mark}")
                            else:
                                fields[name] = ui.number(value=v.get("start")).props(
                                    f"dense outlined data-testid={side}-{mark}")
                with ui.row().classes("items-center gap-3 q-mt-md"):
                    with ui.element("span").props("data-testid=scn-run-wrap") as wrap:
                        run_button = ui.button("Run baseline and scenario", icon="play_arrow").props(
                            "unelevated color=primary data-testid=scn-run")
                    spinner = ui.spinner(size="md").props("data-testid=scn-running")
                    spinner.set_visibility(False)
                    if not can_run:  # a disabled button shows no tooltip: the span around it does
                        run_button.disable()
                        wrap.tooltip(f"Running scenarios needs operator; you are {session.principal.role.value}.")
            with ui.column().classes("w-full gap-1 q-mt-sm") as uncertainty_box:
                panel.form()
        results = ui.card().classes("tv-card q-pa-md w-full").props("data-testid=scn-results")
        results.set_visibility(False)
        panel.results_card()
        residuals = sres.ResidualsPanel(
            library=library, tenant=tenant, entry=entry, can_run=can_run, role_name=session.principal.role.value,
            max_bytes=max_bytes, allowed=allowed, explain=explain,
            current=lambda: chosen["fmu"] is not None and chosen["fmu"]["id"] == entry["id"])
        scal.CalibrationPanel(
            library=library, tenant=tenant, entry=entry, can_calibrate=can_edit, role_name=session.principal.role.value,
            max_bytes=max_bytes, allowed=allowed, explain=explain,
            current=lambda: chosen["fmu"] is not None and chosen["fmu"]["id"] == entry["id"],
            scenario_fields=scen_fields, uncertainty_rows=panel.rows, residual_fields=residuals.fields).card()
        residuals.card()
        run_button.on_click(lambda: run(entry, start.value, stop.value, step.value, run_button, spinner, results))

        def switch(uncertain: bool) -> None:
            # Each mode keeps its own form and its last result, so switching back and forth loses nothing.
            compare_box.set_visibility(not uncertain)
            uncertainty_box.set_visibility(uncertain)
            results.set_visibility(not uncertain and last["scen"] is not None)
            panel.set_active(uncertain)
            last["uncertain"] = uncertain  # a comparison that ends while the other mode is shown stays hidden

        mode.on_value_change(lambda e: switch(e.value == "uncertainty"))
        switch(False)

    async def run(entry: Mapping[str, Any], start: Any, stop: Any, step: Any, button: ui.button,
                  spinner: ui.spinner, results: ui.card) -> None:
        principal = allowed(Role.OPERATOR, "run scenarios")
        if principal is None:
            return
        try:
            t0, t1, dt = optional(start), optional(stop), optional(step)
            base_values, scen_values = read_values(base_fields), read_values(scen_fields)
        except (TypeError, ValueError) as exc:
            ui.notify(f"Not a number: {exc}", type="negative")
            return
        outcome = await guarded_runs(
            [(f"{label} run", functools.partial(library.simulate, tenant, entry["id"], SimulationRequest(
                start_time=t0, stop_time=t1, step=dt, values=values), role=principal.role))
             for label, values in (("baseline", base_values), ("scenario", scen_values))],
            button=button, spinner=spinner, explain=explain, fmu=str(entry["id"]))
        if outcome is None:
            return
        if chosen["fmu"] is None or chosen["fmu"]["id"] != entry["id"]:
            return  # another FMU was picked while this one ran: its form is gone
        last["scen"], last["name"] = outcome["scenario run"], str(entry["name"])
        show(results, entry, base_values, scen_values, outcome["baseline run"], outcome["scenario run"])

    def show(results: ui.card, entry: Mapping[str, Any], base_values: Mapping[str, Any],
             scen_values: Mapping[str, Any], base: Mapping[str, Any], scen: Mapping[str, Any]) -> None:
        units = {str(v["name"]): str(v.get("unit") or "") for v in sc.outputs(entry.get("variables", []))}
        results.clear()
        with results:
            with ui.row().classes("w-full items-center gap-4"):
                ui.label("Baseline versus scenario").classes("tv-section")
                ui.label(sc.changes(chosen["vars"], base_values, scen_values)).props(
                    "data-testid=scn-changes")
                ui.space()
                ui.label(f"{scen['steps']:,} steps of {sc.number(scen['step'])} s, "
                         f"{base['seconds'] + scen['seconds']:.1f} s of simulation").classes("tv-muted")
                ui.button("Download CSV", icon="download", on_click=download).props(
                    "outline dense data-testid=scn-download").tooltip("The scenario run: time and every output")
            with ui.grid(columns=2).classes("w-full gap-4"):
                for name in scen["columns"]:
                    unit = scen.get("units", {}).get(name) or units.get(name, "")
                    ui.echart(sc.chart_options(name, unit, base, scen)).classes("w-full").style(
                        "height: 280px").props(f"data-testid=scn-chart-{sc.safe_id(name)}")
            ui.label("At the end of the run").classes("tv-section")
            finals = ui.table(columns=FINAL_COLUMNS, rows=sc.final_rows(base, scen), row_key="key").props(
                "flat dense hide-bottom data-testid=scn-finals").classes("w-full").style("max-width: 760px")
            finals.add_slot("body-cell", FINAL_CELL)
        results.set_visibility(not last.get("uncertain"))

    def download() -> None:
        if last["scen"] is not None:
            ui.download.content(sc.csv_bytes(last["scen"]), f"{sc.file_stem(last['name'])}-scenario.csv",
                                "text/csv")

    async def rejected() -> None:
        ui.notify(f"Not taken: choose one .fmu file of at most {max_bytes // 1_048_576} MiB.", type="negative")

    async def ask_remove(e: events.GenericEventArguments) -> None:
        await remove(str(e.args))

    async def row_clicked(e: events.GenericEventArguments) -> None:
        await select(str(e.args[1]["id"]))

    table.on("remove", ask_remove)
    table.on("rowClick", row_clicked, [[], ["id"], None])
    if can_edit:
        uploader.on_upload(received)
        uploader.on_rejected(rejected)
    await refresh()
    return None
