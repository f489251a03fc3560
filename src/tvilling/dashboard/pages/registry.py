"""Model registry: registered model names, every version's stage, metrics, training range and lineage; promote
and roll back (engineer and above, after a confirmation).

Reads and writes go through :class:`tvilling.app.registry.RegistryService`, as the API does; the service does not
check roles (the API routes do), so the handlers here check the engineer role on the server before acting — a
forged click from a lower role's browser is refused. ``ml.model.*`` events refresh the page (another user, the
CLI or the live monitor registering a new version).
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import background_tasks, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.registry import ModelVersion, registry_for
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

MODEL_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "kind", "label": "Kind", "field": "kind", "align": "left", "sortable": True},
    {"name": "versions", "label": "Versions", "field": "versions", "align": "right"},
    {"name": "latest_version", "label": "Latest", "field": "latest_version", "align": "right"},
    {"name": "production_version", "label": "Production", "field": "production_version", "align": "right"},
]
NAME_SLOT = r'''<q-td :props="props"><a href="#" class="nicegui-link" :data-testid="'registry-pick-' + props.row.name"
  @click.prevent="() => $parent.$emit('pick', props.row.name)">{{ props.row.name }}</a></q-td>'''
VERSION_COLUMNS: list[dict[str, Any]] = [
    {"name": "version", "label": "Version", "field": "version", "align": "right"},
    {"name": "stage", "label": "Stage", "field": "stage", "align": "left"},
    {"name": "metrics", "label": "Metrics", "field": "metrics", "align": "left"},
    {"name": "training", "label": "Training range", "field": "training", "align": "left"},
    {"name": "lineage", "label": "Lineage", "field": "lineage", "align": "left"},
    {"name": "created", "label": "Created", "field": "created", "align": "left"},
    {"name": "action", "label": "", "field": "version", "align": "right"},
]
STAGE_SLOT = r'''<q-td :props="props"><q-badge :data-testid="'stage-v' + props.row.version" :label="props.row.stage"
  :color="{production:'positive', candidate:'info', archived:'grey-6'}[props.row.stage] || 'grey'" /></q-td>'''
PROMOTE_SLOT = r'''<q-td :props="props"><q-btn v-if="props.row.stage !== 'production'" dense unelevated size="sm"
  color="primary" label="Promote" :data-testid="'promote-v' + props.row.version"
  @click="() => $parent.$emit('promote', props.row.version)" /></q-td>'''


def _short(value: Any) -> str:
    text = str(value)[:19].replace("T", " ")
    return text if text else "–"


def version_row(v: ModelVersion) -> dict[str, Any]:
    metrics = " · ".join(f"{k} {shell.fmt(val)}" for k, val in sorted(v.metrics.items())
                         if not isinstance(val, dict | list))
    t = v.training
    training = f"{_short(t.get('start', ''))} → {_short(t.get('end', ''))}" if t.get("start") or t.get("end") else "–"
    if t.get("points") is not None:
        training += f" · {t['points']} points"
    if t.get("twins"):
        twins = t["twins"]
        training += " · " + (", ".join(map(str, twins)) if isinstance(twins, list) else str(twins))
    if t.get("units") is not None:  # a fleet RUL model: trained on run-to-failure histories, not a time range
        training = f"{t['units']} units · {t.get('rows', '?')} rows"
    lin = v.lineage
    parts = [str(lin.get("reason", "")) or None,
             f"parent v{lin['parent_version']}" if lin.get("parent_version") is not None else None,
             f"data {lin['data_fingerprint']}" if lin.get("data_fingerprint") else None,
             f"code {lin['code_version']}" if lin.get("code_version") else None,
             f"replaced v{v.replaced_version}" if v.replaced_version is not None else None]
    return {"version": v.version, "stage": v.stage, "metrics": metrics or "–", "training": training,
            "lineage": " · ".join(p for p in parts if p) or "–",
            "created": f"{v.created_at.strftime('%Y-%m-%d %H:%M:%S')} by {v.created_by}"}


@ui.page("/registry", title="Tvilling · model registry")
async def registry_page(request: Request, name: str | None = None) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/registry", "Model registry")
    registry = registry_for(session.dash.services)
    tenant = session.tenant
    can_manage = session.can(Role.ENGINEER)
    selected: dict[str, str | None] = {"name": name}

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.card().classes("tv-card q-pa-md w-full"):
            ui.label("Registered models").classes("tv-title")
            ui.label("Every detector the live monitor fits, and every trained model, is a versioned entry here."
                     ).classes("tv-muted")
            if not can_manage:
                ui.label(f"Read-only: the {session.principal.role.value} role cannot promote or roll back; it needs "
                         "engineer.").classes("tv-muted").props("data-testid=read-only")
            models_table = ui.table(columns=MODEL_COLUMNS, rows=[], row_key="name",
                                    pagination={"rowsPerPage": 15}).props(
                "flat dense data-testid=registry-table").classes("w-full")
            models_table.add_slot("body-cell-name", NAME_SLOT)
            models_table.add_slot("no-data", '<div class="tv-muted q-pa-md">No registered models yet (the live '
                                             'monitor registers one when a detector has warmed up).</div>')
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-center w-full gap-2"):
                detail_title = ui.label("Select a model").classes("tv-section").props("data-testid=registry-name")
                ui.space()
                rollback = ui.button("Roll back", icon="undo", on_click=lambda: ask_rollback()).props(
                    "dense outline data-testid=rollback") if can_manage else None
            versions_table = ui.table(columns=VERSION_COLUMNS if can_manage else VERSION_COLUMNS[:-1], rows=[],
                                      row_key="version", pagination={"rowsPerPage": 0}).props(
                "flat dense hide-bottom wrap-cells data-testid=version-table").classes("w-full")
            versions_table.add_slot("body-cell-stage", STAGE_SLOT)
            if can_manage:
                versions_table.add_slot("body-cell-action", PROMOTE_SLOT)

    with ui.dialog() as dialog, ui.card().classes("q-pa-md").props("data-testid=confirm-dialog"):
        confirm_text = ui.label("")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat data-testid=confirm-no")
            ui.button("Confirm", on_click=lambda: dialog.submit(True)).props(
                "unelevated color=primary data-testid=confirm-yes")

    async def refresh() -> None:
        models = await asyncio.to_thread(registry.list_models, tenant)
        models_table.rows = models
        models_table.update()
        current = selected["name"]
        if current is None and models:
            current = selected["name"] = str(models[0]["name"])
        if current is None:
            detail_title.text = "Select a model"
            versions_table.rows = []
        else:
            try:
                versions = await asyncio.to_thread(registry.versions, tenant, current)
            except TvillingError as exc:
                detail_title.text = exc.message
                versions_table.rows = []
            else:
                production = next((v for v in versions if v.stage == "production"), None)
                detail_title.text = f"{current} · {versions[-1].kind} · production " + (
                    f"v{production.version}" if production is not None else "none")
                if rollback is not None:  # something to roll back to: the version production replaced
                    if production is not None and production.replaced_version is not None:
                        rollback.enable()
                    else:
                        rollback.disable()
                versions_table.rows = [version_row(v) for v in reversed(versions)]  # newest first
        versions_table.update()

    def allowed() -> bool:
        # Checked on the server for every action: the service trusts its caller on roles (the API checks them).
        if not session.can(Role.ENGINEER):
            ui.notify(f"the {session.principal.role.value} role cannot change the registry; it needs engineer",
                      type="negative")
            return False
        return True

    async def act(action: str, version: int | None) -> None:
        current = selected["name"]
        if current is None or not allowed():
            return
        ctx = session.principal.context()
        try:
            if action == "promote" and version is not None:
                done = await asyncio.to_thread(registry.promote, tenant, current, version, ctx)
            else:
                done = await asyncio.to_thread(registry.rollback, tenant, current, ctx)
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        ui.notify(f"{current}: version {done.version} is in production", type="positive")
        await refresh()

    async def ask_promote(event: Any) -> None:
        if not allowed() or selected["name"] is None:
            return
        version = int(event.args)
        confirm_text.text = (f"Promote version {version} of {selected['name']} to production? The current "
                             "production version is archived, and live monitors switch to this one.")
        if await dialog:
            await act("promote", version)

    async def ask_rollback() -> None:
        if not allowed() or selected["name"] is None:
            return
        confirm_text.text = (f"Roll back {selected['name']}: re-promote the version the current production "
                             "version replaced?")
        if await dialog:
            await act("rollback", None)

    async def pick(event: Any) -> None:
        selected["name"] = str(event.args)
        await refresh()

    models_table.on("pick", pick)
    versions_table.on("promote", ask_promote)
    await refresh()

    def on_change(_ids: set[str], kinds: set[str]) -> None:
        if "registry" in kinds:
            background_tasks.create(refresh(), name="registry-refresh")

    shell.watch(session, on_change)
    return None
