"""Integrations: the tenant's event routes — outbound webhooks that push work orders, alarms and other events to an
outside system (a CMMS) as signed CloudEvents (docs/integrations.md). KPIs, the routes with their state, backlog,
last success and last error, and the recent deliveries of the selected route with its dead letters.

Viewers read; operators test, pause, resume and redeliver; engineers add and delete routes (a route sends the
tenant's data out). Every action goes through the platform's one
:class:`~tvilling.app.event_routes.EventRouteService` (the one behind ``/api/v1/event-routes``), which checks the
role itself: hiding a button is never the only guard. Delivery status changes without an event of its own, so the
page re-reads it every few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.event_delivery import ping_route
from tvilling.app.event_routes import EventRouteService, event_route_service
from tvilling.core.errors import TvillingError
from tvilling.core.event_routes import Delivery
from tvilling.core.roles import Role
from tvilling.dashboard import shell

REFRESH_S = 3.0
RECENT = 50  # deliveries shown for the selected route
STATE_COLORS = {"active": "positive", "failing": "negative", "paused": "grey-7"}

ROUTE_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "state", "label": "State", "field": "state", "align": "left", "sortable": True},
    {"name": "url", "label": "Receiver", "field": "url", "align": "left"},
    {"name": "kinds", "label": "Events", "field": "kinds", "align": "left"},
    {"name": "backlog", "label": "Backlog", "field": "backlog", "align": "right", "sortable": True},
    {"name": "lastSuccess", "label": "Last success (UTC)", "field": "lastSuccess", "align": "left"},
    {"name": "lastError", "label": "Last error", "field": "lastError", "align": "left"},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
STATE_SLOT = r'''
<q-td :props="props"><q-badge outline :color="props.row.stateColor" :label="props.row.state"
  :data-testid="'route-state-' + props.row.name" />
  <div v-if="props.row.pausedReason" class="tv-muted">{{ props.row.pausedReason }}</div></q-td>'''
BACKLOG_SLOT = r'''
<q-td :props="props"><span :data-testid="'route-backlog-' + props.row.name">{{ props.row.backlog }}</span>
  <div v-if="props.row.dead" class="text-negative tv-muted">{{ props.row.dead }} dead</div></q-td>'''
ERROR_SLOT = r'''
<q-td :props="props"><div :data-testid="'route-error-' + props.row.name">{{ props.row.lastError }}</div>
  <div v-if="props.row.lastErrorAt" class="tv-muted">{{ props.row.lastErrorAt }}</div></q-td>'''
ACTION_SLOT = r'''
<q-td :props="props" auto-width><div class="row no-wrap justify-end" style="gap:4px">
  <q-btn v-if="props.row.canOperate" dense flat size="sm" icon="send" color="secondary"
    :data-testid="'route-test-' + props.row.name" @click.stop="() => $parent.$emit('act', {id: props.row.id,
    action: 'test'})"><q-tooltip>Send a signed test event now</q-tooltip></q-btn>
  <q-btn v-if="props.row.canOperate && props.row.enabled" dense outline size="sm" color="grey-8" label="Pause"
    :data-testid="'route-pause-' + props.row.name"
    @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'pause'})" />
  <q-btn v-if="props.row.canOperate && !props.row.enabled" dense unelevated size="sm" color="primary"
    label="Resume" :data-testid="'route-resume-' + props.row.name"
    @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'resume'})" />
  <q-btn v-if="props.row.canConfigure" dense flat size="sm" icon="delete" color="negative"
    :data-testid="'route-delete-' + props.row.name"
    @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'delete'})">
    <q-tooltip>Delete the route and its delivery log</q-tooltip></q-btn>
</div></q-td>'''
DELIVERY_COLUMNS: list[dict[str, Any]] = [
    {"name": "seq", "label": "Event", "field": "seq", "align": "right"},
    {"name": "kind", "label": "Kind", "field": "kind", "align": "left"},
    {"name": "subject", "label": "Subject", "field": "subject", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "attempts", "label": "Attempts", "field": "attempts", "align": "right"},
    {"name": "answer", "label": "Answer", "field": "answer", "align": "left"},
    {"name": "when", "label": "Last attempt (UTC)", "field": "when", "align": "left"},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
DELIVERY_STATUS_SLOT = r'''
<q-td :props="props"><q-badge outline :color="{delivered:'positive',dead:'negative',pending:'warning'}
  [props.row.status] || 'grey-7'" :label="props.row.status" :data-testid="'delivery-status-' + props.row.seq" />
</q-td>'''
DELIVERY_ACTION_SLOT = r'''
<q-td :props="props" auto-width><q-btn v-if="props.row.canRedeliver" dense unelevated size="sm" color="primary"
  label="Redeliver" :data-testid="'delivery-redeliver-' + props.row.seq"
  @click.stop="() => $parent.$emit('redeliver', props.row.id)" /></q-td>'''


def stamp(iso: Any) -> str:
    return str(iso).replace("T", " ").replace("Z", "")[:19] if iso else "–"


def route_row(view: dict[str, Any], *, can_operate: bool, can_configure: bool) -> dict[str, Any]:
    status, kinds = view["status"], view["filter"]["kinds"]
    return {"id": view["id"], "name": view["name"], "url": view["url"], "state": view["state"],
            "stateColor": STATE_COLORS.get(view["state"], "grey"), "enabled": view["enabled"],
            "pausedReason": view["pausedReason"] or "", "kinds": ", ".join(kinds) if kinds else "all events",
            "backlog": status["backlog"], "dead": status["deadLetters"], "lastSuccess": stamp(status["lastSuccessAt"]),
            "lastError": status["lastError"] or "", "lastErrorAt": stamp(status["lastErrorAt"])
            if status["lastErrorAt"] else "", "canOperate": can_operate, "canConfigure": can_configure}


def delivery_row(d: Delivery, *, can_operate: bool) -> dict[str, Any]:
    answer = d.error or (f"HTTP {d.status_code}" if d.status_code else "")
    return {"id": d.id, "seq": d.event_seq, "kind": d.kind, "subject": d.subject, "status": d.status,
            "attempts": d.attempts, "answer": answer, "when": stamp(d.as_dict()["lastAttemptAt"]),
            "canRedeliver": can_operate and d.status == "dead"}


def kpis(views: list[dict[str, Any]]) -> dict[str, str]:
    states = [v["state"] for v in views]
    return {"routes": str(len(views)), "failing": str(states.count("failing")), "paused": str(states.count("paused")),
            "backlog": str(sum(v["status"]["backlog"] for v in views)),
            "dead": str(sum(v["status"]["deadLetters"] for v in views))}


def split(text: str | None) -> list[str] | None:
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    return items or None


@ui.page("/integrations", title="Tvilling · integrations")
async def integrations_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/integrations", "Integrations")
    dash, tenant, principal = session.dash, session.tenant, session.principal
    source = request.client.host if request.client else "unknown"
    service: EventRouteService = event_route_service(dash.app_state, dash.services)
    can_operate, can_configure = session.can(Role.OPERATOR), session.can(Role.ENGINEER)
    selected: dict[str, str | None] = {"id": None}

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.row().classes("w-full gap-4"):
            labels = {key: shell.kpi(text, "–", mark=f"int-kpi-{key}") for key, text in (
                ("routes", "Event routes"), ("failing", "Failing"), ("paused", "Paused"),
                ("backlog", "Events waiting"), ("dead", "Dead letters"))}
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-center w-full gap-4"):
                ui.label("Event routes").classes("tv-title")
                ui.space()
                ui.label("Events pushed to other systems as signed CloudEvents (webhooks).").classes("tv-muted")
            if not can_operate:
                ui.label(f"Read-only: the {principal.role.value} role cannot change event routes; pausing, "
                         "resuming and testing need operator.").classes("tv-muted").props("data-testid=read-only")
            table = ui.table(columns=ROUTE_COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 15}).props(
                "flat dense wrap-cells data-testid=route-table").classes("w-full")
            for slot, template in (("state", STATE_SLOT), ("backlog", BACKLOG_SLOT), ("lastError", ERROR_SLOT),
                                   ("action", ACTION_SLOT)):
                table.add_slot(f"body-cell-{slot}", template)
            table.add_slot("no-data", '<div class="tv-muted q-pa-md">No event routes yet.</div>')
            ui.label("Click a route for its recent deliveries.").classes("tv-muted")
        deliveries_card = ui.card().classes("tv-card q-pa-md w-full").props("data-testid=route-deliveries")
        deliveries_card.set_visibility(False)
        if can_configure:
            with ui.card().classes("tv-card q-pa-md w-full"):
                ui.label("New event route").classes("tv-section")
                ui.label("The receiver's host must be allowed by the server setting TVILLING_WEBHOOK_ALLOWED_HOSTS "
                         "(loopback only by default). The signing secret is shown once.").classes("tv-muted")
                with ui.row().classes("w-full items-end gap-4"):
                    new_name = ui.input("Name").props("dense data-testid=route-new-name").classes("w-48")
                    new_url = ui.input("Receiver URL").props("dense data-testid=route-new-url").classes("w-96")
                    new_kinds = ui.input("Event kinds (comma-separated)", value="workorder, alarm").props(
                        "dense data-testid=route-new-kinds").classes("w-64")
                    new_twins = ui.input("Twins (optional)").props("dense data-testid=route-new-twins").classes(
                        "w-48")
                    create_button = ui.button("Add", icon="add").props(
                        "unelevated color=primary data-testid=route-create")
                create_error = ui.label("").classes("text-negative").props("data-testid=route-create-error")

    with ui.dialog() as secret_dialog, ui.card().classes("q-pa-md").style("min-width: 520px"):
        ui.label("Signing secret (shown only now)").classes("tv-section")
        ui.label("Give it to the receiver: it verifies each delivery's webhook-signature header with it.").classes(
            "tv-muted")
        secret_label = ui.label("").classes("text-mono").style("word-break: break-all").props(
            "data-testid=route-secret")
        ui.button("Done", on_click=secret_dialog.close).props("flat data-testid=route-secret-close")

    async def guarded(call: Callable[[], Awaitable[Any]], success: str | Callable[[Any], str]) -> Any:
        try:
            result = await call()
        except TvillingError as exc:  # the service checks roles and input: a forged action ends here
            dash.count_denial(exc, principal, source, "/ui/integrations")
            ui.notify(exc.message, type="negative", caption=exc.hint or None, multi_line=True)
            return None
        ui.notify(success(result) if callable(success) else success, type="positive")
        await refresh()
        return result

    async def render_deliveries() -> None:
        route_id = selected["id"]
        deliveries_card.clear()
        deliveries_card.set_visibility(route_id is not None)
        if route_id is None:
            return
        try:
            route = await asyncio.to_thread(service.route, tenant, route_id)
            items = await asyncio.to_thread(service.deliveries, tenant, route_id, limit=RECENT)
        except TvillingError as exc:
            with deliveries_card:
                ui.label(exc.message).classes("text-negative")
            return
        with deliveries_card:
            with ui.row().classes("items-center w-full gap-3"):
                ui.label("Recent deliveries").classes("tv-section")
                ui.label(f"{route.name} → {route.url}").classes("text-weight-medium").props(
                    "data-testid=route-deliveries-title")
                ui.space()
                ui.button(icon="close", on_click=lambda: show(None)).props("flat round dense").tooltip("Close")
            log_table = ui.table(columns=DELIVERY_COLUMNS, rows=[delivery_row(d, can_operate=can_operate)
                                                                  for d in items], row_key="id").props(
                "flat dense wrap-cells data-testid=delivery-table").classes("w-full")
            log_table.add_slot("body-cell-status", DELIVERY_STATUS_SLOT)
            log_table.add_slot("body-cell-action", DELIVERY_ACTION_SLOT)
            log_table.add_slot("no-data", '<div class="tv-muted q-pa-md">Nothing delivered yet.</div>')
            log_table.on("redeliver", lambda e: redeliver(route_id, int(e.args)))

    async def show(route_id: str | None) -> None:
        selected["id"] = route_id
        await render_deliveries()

    async def refresh() -> None:
        views = await asyncio.to_thread(service.list, tenant)
        for key, value in kpis(views).items():
            labels[key].text = value
        table.rows = [route_row(v, can_operate=can_operate, can_configure=can_configure) for v in views]
        table.update()
        if selected["id"] is not None:
            await render_deliveries()

    async def redeliver(route_id: str, delivery_id: int) -> None:
        await guarded(lambda: asyncio.to_thread(service.redeliver, tenant, route_id, delivery_id,
                                                role=principal.role, actor=principal.actor),
                      "Queued: it is sent before the route's next event")

    async def act(event: Any) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        route_id, action = str(args.get("id", "")), str(args.get("action", ""))
        if action == "test":
            await guarded(lambda: ping_route(service, tenant, route_id, role=principal.role),
                          lambda r: f"The receiver answered {r['statusCode']} in {r['latencyMs']} ms" if r["ok"]
                          else f"The receiver did not take it: {r['error']}")
        elif action in ("pause", "resume"):
            await guarded(lambda: asyncio.to_thread(service.update, tenant, route_id, {"enabled": action == "resume"},
                                                    role=principal.role, actor=principal.actor),
                          lambda v: f"{v['name']} is {v['state']}")
        elif action == "delete":
            if selected["id"] == route_id:
                await show(None)
            await guarded(lambda: asyncio.to_thread(service.delete, tenant, route_id, role=principal.role,
                                                    actor=principal.actor), "Route deleted")

    async def create() -> None:
        create_error.text = ""
        try:
            _view, secret = await asyncio.to_thread(
                service.create, tenant, name=new_name.value or "", url=(new_url.value or "").strip(),
                filter={"kinds": split(new_kinds.value), "twins": split(new_twins.value)}, role=principal.role,
                actor=principal.actor)
        except TvillingError as exc:
            dash.count_denial(exc, principal, source, "/ui/integrations")  # a URL the allow-list refuses (S-11)
            create_error.text = exc.message + (f" — {exc.hint}" if exc.hint else "")
            return
        new_name.value = ""
        secret_label.text = secret
        secret_dialog.open()
        await refresh()

    table.on("act", act)
    table.on("rowClick", lambda e: show(str(e.args[1]["id"])), [[], ["id"], None])
    if can_configure:
        create_button.on_click(create)
    await refresh()
    ui.timer(REFRESH_S, refresh)
    return None
