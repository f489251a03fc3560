"""Fleet RUL: estimate the remaining useful life of units in service with a registered fleet model (upload their
histories: every unit ranked by P(failure within H), with its RUL and interval; download the table), and, for
engineers, train a new model version on run-to-failure histories (a background job, registered in the model
registry). What ``tvilling rul predict --name`` / ``submit`` and the API run (:mod:`tvilling.app.rul_jobs`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.offline_rul import HistoryOptions, TrainSettings
from tvilling.app.registry import registry_for
from tvilling.app.rul_jobs import jobs_for, predict_registered
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell
from tvilling.ml.rul.artifact import RUL_FORMAT

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
FORMATS = {"csv": "CSV with a header", "cmapss": "NASA C-MAPSS text"}
SEPARATORS = {",": "comma  ,", ";": "semicolon  ;", "\t": "tab"}
ESTIMATE_COLUMNS: list[dict[str, Any]] = [
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left", "sortable": True},
    {"name": "at", "label": "At", "field": "at", "align": "right"},
    {"name": "rul", "label": "RUL", "field": "rul", "align": "right", "sortable": True},
    {"name": "interval", "label": "Interval", "field": "interval", "align": "right"},
    {"name": "p_failure", "label": "P(failure within)", "field": "p_failure", "align": "right", "sortable": True},
]
JOB_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Model", "field": "name", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "version", "label": "Version", "field": "version", "align": "right"},
    {"name": "cv_rmse", "label": "CV RMSE", "field": "cv_rmse", "align": "right"},
    {"name": "created", "label": "Submitted (UTC)", "field": "created", "align": "left"},
    {"name": "error", "label": "Error", "field": "error", "align": "left"},
]


def rul_models(registry: Any, tenant: str) -> dict[str, str]:
    """Registered fleet RUL models (kind ``rul`` in the model-file format; other RUL kinds cannot estimate from
    histories): name -> label with the production version."""
    out: dict[str, str] = {}
    for m in registry.list_models(tenant):
        if m["kind"] != "rul" or registry.versions(tenant, m["name"])[-1].format != RUL_FORMAT:
            continue
        production = m["production_version"]
        out[str(m["name"])] = f"{m['name']} (production v{production})" if production else \
            f"{m['name']} (no production version)"
    return out


def estimate_rows(table: Any, time_col: str) -> list[dict[str, Any]]:
    """Every unit's estimate, most at risk first."""
    ordered = table.sort_values(["p_failure", "rul"], ascending=[False, True], kind="stable")
    return [{"unit": str(r[table.columns[0]]), "at": shell.fmt(r[time_col]), "rul": round(float(r["rul"]), 1),
             "interval": f"{r['rul_lower']:.1f} – {r['rul_upper']:.1f}", "p_failure": round(float(r["p_failure"]), 3)}
            for r in ordered.to_dict("records")]


def job_row(job: dict[str, Any]) -> dict[str, Any]:
    summary = job.get("summary") or {}
    return {"id": job["id"], "name": job["name"], "status": job["status"], "version": job["version"] or "–",
            "cv_rmse": shell.fmt(summary.get("cv_rmse")), "created": str(job["created_at"])[:19].replace("T", " "),
            "error": job["error"] or ""}


@ui.page("/rul", title="Tvilling · fleet RUL")
async def rul_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/rul", "Fleet RUL")
    services = session.dash.services
    registry, jobs, tenant = registry_for(services), jobs_for(services), session.tenant
    current: dict[str, Any] = {"name": "", "data": b""}
    history: dict[str, Any] = {"name": "", "data": b""}
    last: dict[str, bytes] = {}

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.card().classes("tv-card q-pa-md w-full"):
            ui.label("Remaining useful life of units in service").classes("tv-title")
            ui.label("Upload each unit's history so far (one row per unit and time step, the columns the model was "
                     "trained on). Every unit is ranked by its probability of failing within the horizon, with "
                     "its RUL and interval. Nothing is stored.").classes("tv-muted")
            with ui.row().classes("w-full items-end gap-4"):
                model = ui.select({}, label="Model").props("dense data-testid=rul-model").classes("w-72")
                shell.file_upload("Histories", current, "rul-now", max_bytes=MAX_UPLOAD_BYTES)
                fmt = ui.select(FORMATS, value="csv", label="Format").props("dense data-testid=rul-format"
                                                                            ).classes("w-44")
                sep = ui.select(SEPARATORS, value=",", label="Separator").props("dense").classes("w-36")
                within = ui.number("Horizon H (time steps)", value=30, min=0).props("dense data-testid=rul-within"
                                                                                   ).classes("w-44")
                run = ui.button("Estimate", icon="timelapse").props("unelevated color=primary data-testid=rul-run")
            error = ui.label("").classes("text-negative").props("data-testid=rul-error")
        with ui.card().classes("tv-card q-pa-md w-full") as results:
            with ui.row().classes("w-full items-center gap-6"):
                kpis = ui.row().classes("gap-6")
                ui.space()
                ui.button("Estimates CSV", icon="download", on_click=lambda: save()).props(
                    "outline dense data-testid=rul-download")
            estimates = ui.table(columns=ESTIMATE_COLUMNS, rows=[], row_key="unit", pagination={"rowsPerPage": 15}
                                 ).props("flat dense data-testid=rul-estimates").classes("w-full")
        results.set_visibility(False)
        with ui.card().classes("tv-card q-pa-md w-full"):
            ui.label("Train a fleet model").classes("tv-section")
            ui.label("Run-to-failure histories: each unit's last row is its failure. The model is fitted in the "
                     "background (a few minutes for a hundred units) and registered as the next version of its "
                     "name; promote it here or on the Model registry page.").classes("tv-muted")
            if session.can(Role.ENGINEER):
                with ui.row().classes("w-full items-end gap-4"):
                    name = ui.input("Model name").props("dense data-testid=rul-train-name").classes("w-52")
                    shell.file_upload("Run-to-failure histories", history, "rul-train", max_bytes=MAX_UPLOAD_BYTES)
                    train_fmt = ui.select(FORMATS, value="csv", label="Format").props(
                        "dense data-testid=rul-train-format").classes("w-44")
                    folds = ui.number("CV folds", value=5, min=2, max=20, precision=0).props("dense").classes("w-28")
                    promote = ui.checkbox("Promote when done").props("data-testid=rul-train-promote")
                    submit = ui.button("Train", icon="model_training").props(
                        "unelevated color=primary data-testid=rul-train-run")
                train_error = ui.label("").classes("text-negative").props("data-testid=rul-train-error")
            else:
                ui.label(f"The {session.principal.role.value} role can estimate but not train; training needs "
                         "engineer.").classes("tv-muted").props("data-testid=rul-read-only")
            job_table = ui.table(columns=JOB_COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 10}).props(
                "flat dense wrap-cells data-testid=rul-jobs").classes("w-full")
            job_table.add_slot("no-data", '<div class="tv-muted q-pa-md">No training jobs since the server '
                                          'started.</div>')

    async def refresh_models() -> None:
        options = await asyncio.to_thread(rul_models, registry, tenant)
        model.options = options
        if model.value not in options:
            model.value = next(iter(options), None)
        model.update()

    def refresh_jobs() -> None:
        job_table.rows = [job_row(j.as_dict()) for j in jobs.list(tenant)]
        job_table.update()

    def save() -> None:
        if "csv" in last:
            ui.download.content(last["csv"], "rul-estimates.csv", "text/csv")

    async def estimate() -> None:
        error.text = ""
        if not model.value:
            error.text = "No fleet model is registered yet: train one below (engineer), then promote it."
            return
        if not current["data"]:
            error.text = "Choose a file of histories first."
            return
        run.props("loading")
        try:
            version, table, summary = await asyncio.to_thread(
                predict_registered, registry, tenant, str(model.value), current["data"], version=None,
                options=HistoryOptions(format=str(fmt.value), sep=str(sep.value or ",")),
                within=float(within.value if within.value is not None else 30))
        except TvillingError as exc:
            error.text = str(exc)
            return
        finally:
            run.props(remove="loading")
        last["csv"] = table.to_csv(index=False).encode()
        kpis.clear()
        with kpis:
            shell.kpi("Model", f"{model.value} v{version}")
            shell.kpi("Units", str(summary["units"]))
            shell.kpi(f"P(failure within {summary['within']:g}) ≥ 0.5", str(summary["units_likely_to_fail"]),
                      mark="rul-likely")
            shell.kpi("Interval", f"{summary['level']:.0%}")
        estimates.rows = estimate_rows(table, str(table.columns[1]))
        estimates.update()
        results.set_visibility(True)

    async def train() -> None:
        train_error.text = ""
        if not (name.value or "").strip() or not history["data"]:
            train_error.text = "Give a model name and a file of run-to-failure histories."
            return
        try:
            job = await asyncio.to_thread(
                jobs.submit, tenant, name.value.strip(), history["data"], HistoryOptions(format=str(train_fmt.value)),
                TrainSettings(folds=int(folds.value or 5)), session.principal.context(), promote=bool(promote.value))
        except TvillingError as exc:
            train_error.text = str(exc)
            return
        ui.notify(f"training job for {job.name} submitted", type="positive")
        refresh_jobs()

    run.on_click(estimate)
    if session.can(Role.ENGINEER):
        submit.on_click(train)

    async def tick() -> None:  # jobs finish in the background: follow them, and pick up new model versions
        before = {r["id"]: r["status"] for r in job_table.rows}
        refresh_jobs()
        if any(before.get(r["id"]) not in (None, r["status"]) for r in job_table.rows):
            await refresh_models()

    ui.timer(2.0, tick)
    await refresh_models()
    refresh_jobs()
    return None
