"""The twin page's Commands panel: send a DTDL command to the device behind the twin, follow its state
([pending_approval →] requested → sent → acked / failed / expired, or rejected / canceled) live, and list the
twin's recent commands.

Sending goes through :class:`tvilling.app.commands.CommandService` (``app.state.commands``), the same service the
API uses, so validation (request schema, the mapping's limits), persistence and events are identical. The service
itself does not check roles (the API does, per route), so this panel checks the operator role on the server in
the click handler as well as disabling the buttons: a forged click from a viewer's browser is refused here.
Updates come from the live hub (``command.*`` events mark the twin with the "commands" kind); the history is
re-read from the store then, so what is shown is what was committed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from nicegui import background_tasks, ui

from tvilling.app.commands import CommandService
from tvilling.core.commands import Command
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

HISTORY_LIMIT = 20
NUMERIC = {"double", "float", "integer", "long"}
HISTORY_COLUMNS: list[dict[str, Any]] = [
    {"name": "command", "label": "Command", "field": "command", "align": "left", "classes": "text-no-wrap"},
    {"name": "payload", "label": "Payload", "field": "payload", "align": "right"},
    {"name": "state", "label": "State", "field": "state", "align": "left"},
    {"name": "requested", "label": "Requested (UTC)", "field": "requested", "align": "left",
     "classes": "text-no-wrap"},
    {"name": "by", "label": "By", "field": "by", "align": "left"},
]
STATE_SLOT = r'''
<q-td :props="props"><q-badge :data-testid="'cmd-state-' + props.row.id" :label="props.row.state"
  :color="{pending_approval:'accent', requested:'grey-7', sent:'info', acked:'positive', failed:'negative',
           expired:'warning', rejected:'negative', canceled:'grey-9'}[props.row.state]"
  /><div v-if="props.row.reason" class="tv-muted">{{ props.row.reason }}</div>
  <div v-if="props.row.late" class="tv-muted">late answer: {{ props.row.late }}</div></q-td>'''


@dataclass(frozen=True)
class CommandInfo:
    name: str
    description: str
    request: str | None  # the request schema's primitive name ("double", …), "json" for complex ones, None: none
    limits: str  # "0 – 110" from the mapping, or ""
    mapped: bool


def declared_commands(dash: Any, tenant: str, model_id: str, service: CommandService | None,
                      twin_id: str) -> list[CommandInfo]:
    """The commands the twin's model declares, with what the mapping says about each (blocking: a store read)."""
    model_set: Any = dash.services.models.model_set(tenant)
    if model_id not in model_set:
        return []
    out = []
    for name, cdef in sorted(model_set.get(model_id).commands.items()):
        request = None
        if cdef.request is not None:
            primitive = getattr(cdef.request.schema, "name", None)
            request = primitive if primitive in (*NUMERIC, "boolean", "string") else "json"
        m = service.mappings.get(tenant, twin_id, name) if service is not None else None
        limits = ""
        if m is not None and (m.min is not None or m.max is not None):
            limits = " – ".join("…" if v is None else shell.fmt(v) for v in (m.min, m.max))
        out.append(CommandInfo(name, cdef.description or cdef.display_name or "", request, limits, m is not None))
    return out


def parse_payload(kind: str | None, raw: Any) -> Any:
    """The request payload from the input widget's value; raises ValueError with a readable reason."""
    if kind is None:
        return None
    if kind in NUMERIC:
        if raw is None or raw == "":
            raise ValueError("enter a value")
        value = float(raw)
        return int(value) if kind in ("integer", "long") and value.is_integer() else value
    if kind == "boolean":
        return bool(raw)
    if kind == "string":
        return str(raw or "")
    text = str(raw or "").strip()
    if not text:
        raise ValueError("enter the request as JSON")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the request is not valid JSON: {exc}") from exc


def history_row(c: Command) -> dict[str, Any]:
    late = [t.state.value for t in c.history if t.late]
    return {"id": c.id, "command": c.name, "payload": "–" if c.payload is None else shell.fmt(c.payload),
            "state": c.state.value, "reason": c.reason, "late": ", ".join(late),
            "requested": c.requested_at.strftime("%Y-%m-%d %H:%M:%S"), "by": c.context.actor}


async def commands_panel(session: shell.Session, twin_id: str, model_id: str) -> None:
    """Build the panel in the current layout context (nothing when the model declares no commands)."""
    dash, tenant = session.dash, session.tenant
    service: CommandService | None = getattr(dash.app_state, "commands", None)
    infos = await asyncio.to_thread(declared_commands, dash, tenant, model_id, service, twin_id)
    if not infos:
        return
    can_send = session.can(Role.OPERATOR)
    inputs: dict[str, Any] = {}
    with ui.card().classes("tv-card q-pa-md w-full").props("data-testid=commands-panel"):
        ui.label("Commands").classes("tv-section")
        if service is None:
            ui.label("The command service is not running on this server.").classes("tv-muted")
        elif not can_send:
            ui.label(f"Read-only: the {session.principal.role.value} role cannot send commands; it needs operator."
                     ).classes("tv-muted").props("data-testid=commands-read-only")
        for c in infos:
            with ui.row().classes("items-center w-full gap-2 no-wrap"):
                with ui.column().classes("gap-0").style("flex: 1; min-width: 0"):
                    ui.label(c.name).classes("text-weight-medium")
                    note = c.description if c.mapped else "not mapped to a device (commands.yaml)"
                    if note:
                        ui.label(note).classes("tv-muted ellipsis")
                enabled = can_send and c.mapped and service is not None
                if c.request in NUMERIC:
                    widget: Any = ui.number(label=c.limits or c.request).props("dense outlined").style("width: 110px")
                elif c.request == "boolean":
                    widget = ui.checkbox()
                elif c.request is not None:
                    widget = ui.input(label="JSON" if c.request == "json" else "text").props(
                        "dense outlined").style("width: 130px")
                else:
                    widget = None
                if widget is not None:
                    widget.props(f"data-testid=cmd-input-{c.name}")
                    if not enabled:
                        widget.disable()
                    inputs[c.name] = widget
                button = ui.button("Send", on_click=lambda _e, info=c: send(info)).props(
                    f"dense unelevated size=sm data-testid=cmd-send-{c.name}")
                if not enabled:
                    button.disable()
                    reason = ("not mapped to a device" if not c.mapped else "needs the operator role" if not can_send
                              else "the command service is not running")
                    button.tooltip(reason)
        ui.label("Recent commands").classes("tv-section q-mt-sm")
        table = ui.table(columns=HISTORY_COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 0}).props(
            "flat dense hide-bottom wrap-cells data-testid=command-history").classes("w-full")
        table.add_slot("body-cell-state", STATE_SLOT)
        table.add_slot("no-data", '<div class="tv-muted q-pa-sm">No commands sent to this twin yet.</div>')

    async def refresh() -> None:
        if service is None:
            return
        items = await asyncio.to_thread(service.list_for_twin, tenant, twin_id, limit=HISTORY_LIMIT)
        table.rows = [history_row(c) for c in items]
        table.update()

    async def send(info: CommandInfo) -> None:
        # Checked here, on the server, whatever the browser shows: the service trusts its caller on roles.
        if not session.can(Role.OPERATOR):
            ui.notify(f"the {session.principal.role.value} role cannot send commands; it needs operator",
                      type="negative")
            return
        if service is None:
            ui.notify("the command service is not running on this server", type="negative")
            return
        widget = inputs.get(info.name)
        try:
            payload = parse_payload(info.request, widget.value if widget is not None else None)
        except ValueError as exc:
            ui.notify(str(exc), type="warning")
            return
        try:
            cmd, _ = await service.request(tenant, twin_id, info.name, payload, session.principal.context())
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        ui.notify(f"{info.name} requested ({cmd.id[:8]}…)", type="info")
        await refresh()

    def on_change(ids: set[str], kinds: set[str]) -> None:
        if "commands" in kinds and twin_id in ids:
            background_tasks.create(refresh(), name=f"commands-{twin_id}")

    await refresh()
    shell.watch(session, on_change)
