"""Alarms: list, filter, acknowledge (operator and above; a viewer sees the list read-only)."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.alarms import SEVERITIES, Alarm
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

COLUMNS: list[dict[str, Any]] = [
    {"name": "severity", "label": "Severity", "field": "severity", "align": "left", "sortable": True},
    {"name": "twinId", "label": "Twin", "field": "twinId", "align": "left", "sortable": True},
    {"name": "message", "label": "Message", "field": "message", "align": "left"},
    {"name": "raised", "label": "Raised", "field": "raised", "align": "left", "sortable": True},
    {"name": "state", "label": "State", "field": "state", "align": "left", "sortable": True},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
SEVERITY_SLOT = r'''
<q-td :props="props"><q-badge :color="{critical:'negative',major:'deep-orange',minor:'warning',warning:'amber-7'}
  [props.row.severity] || 'grey'" :label="props.row.severity" /></q-td>'''
STATE_SLOT = r'''
<q-td :props="props"><span :style="{color: props.row.state === 'active' ? '#d64545' : '#607080',
  fontWeight: props.row.state === 'active' ? 600 : 400}">{{ props.row.state }}</span>
  <span v-if="props.row.ackedBy" class="tv-muted"> by {{ props.row.ackedBy }}</span></q-td>'''
ACK_SLOT = r'''
<q-td :props="props">
  <q-btn v-if="props.row.state === 'active'" dense unelevated size="sm" color="primary" label="Acknowledge"
    :data-testid="'ack-' + props.row.id" @click="() => $parent.$emit('ack', props.row.id)" />
</q-td>'''


def row(a: Alarm) -> dict[str, Any]:
    return {**a.as_dict(), "raised": a.raised_at.strftime("%Y-%m-%d %H:%M:%S")}


@ui.page("/alarms", title="Tvilling · alarms")
async def alarms_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/alarms", "Alarms")
    service = session.dash.alarms
    await session.dash.hub.tenant(session.tenant)
    can_ack = session.can(Role.OPERATOR)
    with ui.column().classes("w-full q-pa-md gap-4"), ui.card().classes("tv-card q-pa-md w-full"):
        with ui.row().classes("items-center w-full gap-4"):
            ui.label("Alarms").classes("tv-title")
            ui.space()
            state_filter = ui.select({"open": "Open", "active": "Unacknowledged", "all": "All (incl. cleared)"},
                                     value="open", label="State").props("dense outlined").style("width: 200px")
            severity_filter = ui.select(["any", *SEVERITIES], value="any", label="Severity").props(
                "dense outlined").style("width: 140px")
            text_filter = ui.input("Twin or text").props("dense outlined clearable").style("width: 200px")
        if not can_ack:
            ui.label(f"Read-only: the {session.principal.role.value} role cannot acknowledge alarms.").classes(
                "tv-muted").props("data-testid=read-only")
        table = ui.table(columns=COLUMNS if can_ack else COLUMNS[:-1], rows=[], row_key="id",
                         pagination={"rowsPerPage": 15}).props("flat dense data-testid=alarm-table").classes(
            "w-full")
        table.add_slot("body-cell-severity", SEVERITY_SLOT)
        table.add_slot("body-cell-state", STATE_SLOT)
        if can_ack:
            table.add_slot("body-cell-action", ACK_SLOT)
        table.add_slot("no-data", '<div class="tv-muted q-pa-md">No alarms match the filter.</div>')

    def refresh(*_: Any) -> None:
        items = service.list(session.tenant, include_cleared=state_filter.value == "all")
        if state_filter.value == "active":
            items = [a for a in items if a.state == "active"]
        if severity_filter.value != "any":
            items = [a for a in items if a.severity == severity_filter.value]
        needle = (text_filter.value or "").lower()
        if needle:
            items = [a for a in items if needle in a.twin_id.lower() or needle in a.message.lower()]
        table.rows = [row(a) for a in items]
        table.update()

    def acknowledge(event: Any) -> None:
        try:
            service.acknowledge(session.tenant, str(event.args), role=session.principal.role,
                                actor=session.principal.actor)
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        ui.notify(f"Alarm {event.args} acknowledged", type="positive")
        refresh()

    table.on("ack", acknowledge)
    for f in (state_filter, severity_filter, text_filter):
        f.on_value_change(refresh)
    refresh()

    def on_change(_ids: set[str], kinds: set[str]) -> None:
        if "alarms" in kinds:
            refresh()

    shell.watch(session, on_change)
    return None
