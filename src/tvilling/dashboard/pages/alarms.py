"""Alarms: the persisted alarms (docs/alarms.md) with state, severity, rule, since; filter; acknowledge with an
optional comment (operator and above; a viewer sees the list read-only)."""

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
    {"name": "source", "label": "Property", "field": "source", "align": "left", "sortable": True},
    {"name": "rule", "label": "Rule", "field": "rule", "align": "left", "sortable": True},
    {"name": "message", "label": "Message", "field": "message", "align": "left"},
    {"name": "raised", "label": "Since", "field": "raised", "align": "left", "sortable": True},
    {"name": "state", "label": "State", "field": "state", "align": "left", "sortable": True},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
SEVERITY_SLOT = r'''
<q-td :props="props"><q-badge :color="{critical:'negative',major:'deep-orange',minor:'warning',warning:'amber-7'}
  [props.row.severity] || 'grey'" :label="props.row.severity" /></q-td>'''
STATE_SLOT = r'''
<q-td :props="props"><span :style="{color: props.row.state === 'active' ? '#d64545' : '#607080',
  fontWeight: props.row.state === 'active' ? 600 : 400}">{{ props.row.state }}</span>
  <span v-if="props.row.ackedBy" class="tv-muted"> by {{ props.row.ackedBy }}</span>
  <div v-if="props.row.ackComment" class="tv-muted" :data-testid="'ack-comment-' + props.row.id">
    “{{ props.row.ackComment }}”</div>
  <div v-if="props.row.clearedAt" class="tv-muted">condition cleared {{ props.row.cleared }}</div></q-td>'''
ACK_SLOT = r'''
<q-td :props="props">
  <q-btn v-if="!props.row.acked && props.row.state !== 'cleared'" dense unelevated size="sm" color="primary"
    label="Acknowledge"
    :data-testid="'ack-' + props.row.id" @click="() => $parent.$emit('ack', props.row.id)" />
</q-td>'''


def row(a: Alarm) -> dict[str, Any]:
    # "rule": the alarms.yaml rule id, or which built-in source raised it (quality, anomaly, external).
    return {**a.as_dict(), "raised": a.raised_at.strftime("%Y-%m-%d %H:%M:%S"),
            "cleared": a.cleared_at.strftime("%Y-%m-%d %H:%M:%S") if a.cleared_at else "",
            "rule": a.rule_id or f"({a.origin})"}


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
            text_filter = ui.input("Twin, property, rule or text").props("dense outlined clearable").style(
                "width: 220px")
        if not can_ack:
            ui.label(f"Read-only: the {session.principal.role.value} role cannot acknowledge alarms.").classes(
                "tv-muted").props("data-testid=read-only")
        table = ui.table(columns=COLUMNS if can_ack else COLUMNS[:-1], rows=[], row_key="id",
                         pagination={"rowsPerPage": 15}).props("flat dense wrap-cells data-testid=alarm-table").classes(
            "w-full")
        table.add_slot("body-cell-severity", SEVERITY_SLOT)
        table.add_slot("body-cell-state", STATE_SLOT)
        if can_ack:
            table.add_slot("body-cell-action", ACK_SLOT)
        table.add_slot("no-data", '<div class="tv-muted q-pa-md">No alarms match the filter.</div>')

    def refresh(*_: Any) -> None:
        items = service.list(session.tenant, include_cleared=state_filter.value == "all")
        if state_filter.value == "active":
            items = [a for a in items if not a.acked and a.open]  # active, or returned and awaiting an ack
        if severity_filter.value != "any":
            items = [a for a in items if a.severity == severity_filter.value]
        needle = (text_filter.value or "").lower()
        if needle:
            items = [a for a in items if any(needle in f.lower() for f in (a.twin_id, a.message, a.source,
                                                                           a.rule_id or ""))]
        table.rows = [row(a) for a in items]
        table.update()

    with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 380px").props(
            "data-testid=ack-dialog"):
        dialog_text = ui.label("")
        comment = ui.input("Comment (optional)").props("dense outlined data-testid=ack-comment").classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat data-testid=ack-cancel")
            ui.button("Acknowledge", on_click=lambda: dialog.submit(True)).props(
                "unelevated color=primary data-testid=ack-confirm")

    def acknowledge(alarm_id: str, note: str | None) -> None:
        try:  # the service checks the role: a forged "ack" from a viewer's browser ends here, refused
            service.acknowledge(session.tenant, alarm_id, role=session.principal.role,
                                actor=session.principal.actor, comment=note)
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        ui.notify(f"Alarm {alarm_id} acknowledged", type="positive")
        refresh()

    async def ask(event: Any) -> None:
        alarm_id = str(event.args)
        if not can_ack:
            acknowledge(alarm_id, None)
            return
        try:
            alarm = service.get(session.tenant, alarm_id)
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        dialog_text.text = f"Acknowledge {alarm.severity} alarm on {alarm.twin_id}: {alarm.message}"
        comment.value = ""
        if await dialog:
            acknowledge(alarm_id, (comment.value or "").strip() or None)

    table.on("ack", ask)
    for f in (state_filter, severity_filter, text_filter):
        f.on_value_change(refresh)
    refresh()

    def on_change(_ids: set[str], kinds: set[str]) -> None:
        if "alarms" in kinds:
            refresh()

    shell.watch(session, on_change)
    return None
