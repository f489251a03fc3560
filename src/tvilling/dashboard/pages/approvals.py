"""Approvals: the kill switch and the guarded commands waiting for approval (docs/commands.md, "Guards").

At the top, the engaged kill switches (scope, since when, by whom, why): an operator engages one for the whole site
(``*``) or one twin, which refuses new commands there and cancels every command not yet handed to a device; only
an engineer releases it. Below, the commands a guard holds for approval (two-person rule): twin, command, payload,
who asked and when, the approval deadline, approvals so far and the digest an approval is bound to; engineers
approve (after seeing the request they approve) or reject them with a reason. A viewer sees everything read-only.

Every read and action goes through the platform's one :class:`~tvilling.app.commands.CommandService` (the one
behind ``/api/v1/approvals`` and ``/api/v1/killswitch``). The service does not check roles itself (the API does,
per route), so this page checks them on the server in each handler as well as hiding the buttons: a forged click
from a viewer's browser is refused here; the service still refuses a requester approving their own command. The
page follows ``command.*`` events through the live hub and ``killswitch.*`` events on the bus, and re-reads the
store then, so what is shown is what was committed.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.commands import CommandService
from tvilling.core.commands import Command, CommandState
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

LIMIT = 200  # pending commands read per refresh (oldest first)
WHOLE_SITE = "*"
DIGEST_SHOWN = 12  # hex digits of the digest in the table (the dialog shows all of it)
PAYLOAD_SHOWN = 80

SWITCH_COLUMNS: list[dict[str, Any]] = [
    {"name": "scope", "label": "Scope", "field": "scope", "align": "left"},
    {"name": "since", "label": "Engaged (UTC)", "field": "since", "align": "left"},
    {"name": "by", "label": "By", "field": "by", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
    {"name": "action", "label": "", "field": "scope", "align": "right"},
]
SCOPE_SLOT = r'''
<q-td :props="props"><span class="text-weight-bold text-negative" :data-testid="'killswitch-' + props.row.scope">
  {{ props.row.scopeText }}</span></q-td>'''
RELEASE_SLOT = r'''
<q-td :props="props" auto-width>
  <q-btn v-if="props.row.canRelease" dense outline size="sm" color="primary" icon="lock_open" label="Release"
    :data-testid="'killswitch-release-' + props.row.scope"
    @click.stop="() => $parent.$emit('release', props.row.scope)" /></q-td>'''

COLUMNS: list[dict[str, Any]] = [
    {"name": "twinId", "label": "Twin", "field": "twinId", "align": "left", "sortable": True},
    {"name": "command", "label": "Command", "field": "command", "align": "left", "sortable": True},
    {"name": "payload", "label": "Payload", "field": "payload", "align": "left"},
    {"name": "by", "label": "Requested by", "field": "by", "align": "left", "sortable": True},
    {"name": "requested", "label": "Requested (UTC)", "field": "requestedSort", "align": "left", "sortable": True},
    {"name": "deadline", "label": "Deadline (UTC)", "field": "deadlineSort", "align": "left", "sortable": True},
    {"name": "approvals", "label": "Approvals", "field": "approvalsCount", "align": "left"},
    {"name": "digest", "label": "Digest", "field": "digest", "align": "left"},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
COMMAND_SLOT = r'''
<q-td :props="props"><span class="text-weight-medium" :data-testid="'pending-' + props.row.id">
  {{ props.row.command }}</span></q-td>'''
PAYLOAD_SLOT = r'''
<q-td :props="props"><code style="font-size:.8rem">{{ props.row.payload }}</code></q-td>'''
BY_SLOT = r'''
<q-td :props="props"><span>{{ props.row.by }}</span>
  <q-badge v-if="props.row.mine" outline color="grey-7" class="q-ml-xs" label="you" /></q-td>'''
REQUESTED_SLOT = r'''<q-td :props="props" style="white-space:nowrap">{{ props.row.requested }}</q-td>'''
DEADLINE_SLOT = r'''
<q-td :props="props" style="white-space:nowrap"><div>{{ props.row.deadline }}</div>
  <div :class="props.row.late ? 'text-negative text-weight-medium' : 'tv-muted'">{{ props.row.deadlineHint }}</div>
</q-td>'''
APPROVALS_SLOT = r'''
<q-td :props="props"><span class="text-weight-medium" :data-testid="'approvals-count-' + props.row.id">
  {{ props.row.approvalsCount }}</span>
  <div v-if="props.row.approvers" class="tv-muted">{{ props.row.approvers }}</div></q-td>'''
DIGEST_SLOT = r'''
<q-td :props="props"><code style="font-size:.8rem" :title="props.row.digestFull">{{ props.row.digest }}</code>
</q-td>'''
ACTION_SLOT = r'''
<q-td :props="props" auto-width><div v-if="props.row.canAct" class="row no-wrap justify-end" style="gap:4px">
  <q-btn dense unelevated size="sm" color="positive" label="Approve" :data-testid="'approve-' + props.row.id"
    @click.stop="() => $parent.$emit('approve', props.row.id)" />
  <q-btn dense outline size="sm" color="negative" label="Reject" :data-testid="'reject-' + props.row.id"
    @click.stop="() => $parent.$emit('reject', props.row.id)" />
</div></q-td>'''


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def span(seconds: float) -> str:
    """'40 s', '14 min', '3 h 5 min', '2 d 4 h' for a positive duration."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def deadline_hint(deadline: datetime, now: datetime) -> tuple[str, bool]:
    """('in 14 min' | 'past: it expires', late?)."""
    left = (deadline - now).total_seconds()
    return ("past: it expires", True) if left <= 0 else (f"in {span(left)}", False)


def payload_text(payload: Any) -> str:
    if payload is None:
        return "–"
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= PAYLOAD_SHOWN else text[:PAYLOAD_SHOWN - 1] + "…"


def scope_text(scope: str) -> str:
    return "whole site (*)" if scope == WHOLE_SITE else scope


def pending_row(c: Command, now: datetime, actor: str, can_act: bool) -> dict[str, Any]:
    hint, late = deadline_hint(c.expires_at, now)
    return {"id": c.id, "twinId": c.twin_id, "command": c.name, "payload": payload_text(c.payload),
            "by": c.context.actor, "mine": c.context.actor == actor, "requested": stamp(c.requested_at),
            "requestedSort": c.requested_at.isoformat(), "deadline": stamp(c.expires_at),
            "deadlineSort": c.expires_at.isoformat(), "deadlineHint": hint, "late": late,
            "approvalsCount": f"{len(c.approvals)} / {c.approvals_required}",
            "approvers": ", ".join(a.actor for a in c.approvals),
            "digest": c.digest[:DIGEST_SHOWN] + ("…" if len(c.digest) > DIGEST_SHOWN else ""),
            "digestFull": c.digest, "canAct": can_act}


def switch_row(switch: Any, can_release: bool) -> dict[str, Any]:
    return {"scope": switch.scope, "scopeText": scope_text(switch.scope), "since": stamp(switch.engaged_at),
            "by": switch.actor, "reason": switch.reason or "–", "canRelease": can_release}


def problem(exc: TvillingError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


@ui.page("/approvals", title="Tvilling · approvals")
async def approvals_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/approvals", "Approvals for guarded actions")
    dash, tenant, actor = session.dash, session.tenant, session.principal.actor
    found: CommandService | None = getattr(dash.app_state, "commands", None)
    state = await dash.hub.tenant(tenant)  # loaded before watching; its twin ids complete the scope input
    role = session.principal.role.value
    can_engage, can_approve = session.can(Role.OPERATOR), session.can(Role.ENGINEER)
    shown: dict[str, Command] = {}  # what the table shows: an approval is bound to the digest on screen

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.row().classes("items-center w-full gap-4"):
            ui.label("Approvals for guarded actions").classes("tv-title")
            ui.label("The kill switch, and the commands a guard holds for a second person's approval."
                     ).classes("tv-muted")
            ui.space()
            refreshed = ui.label("").classes("tv-muted").props("data-testid=approvals-refreshed")
            refresh_button = ui.button("Refresh", icon="refresh").props(
                "flat dense no-caps color=primary data-testid=approvals-refresh")
        if found is None:
            with ui.card().classes("tv-card q-pa-md w-full"):
                ui.label("The command service is not running on this server.").classes("tv-muted").props(
                    "data-testid=approvals-unavailable")
            return None
        service = found
        with ui.card().classes("tv-card q-pa-md w-full").props("data-testid=killswitch-panel"):
            with ui.row().classes("items-center w-full gap-3"):
                ui.icon("power_settings_new", size="22px").classes("text-negative")
                ui.label("Kill switch").classes("tv-section")
                status = ui.label("").classes("text-weight-medium").props("data-testid=killswitch-status")
            switch_table = ui.table(columns=SWITCH_COLUMNS, rows=[], row_key="scope",
                                    pagination={"rowsPerPage": 0}).props(
                "flat dense wrap-cells hide-bottom data-testid=killswitch-table").classes("w-full")
            switch_table.add_slot("body-cell-scope", SCOPE_SLOT)
            switch_table.add_slot("body-cell-action", RELEASE_SLOT)
            switch_table.set_visibility(False)
            if can_engage:
                ui.label("Engaging refuses new commands to the scope and cancels every command there not yet "
                         "handed to a device (pending approvals included)."
                         + ("" if can_approve else " Releasing it needs the engineer role.")).classes("tv-muted")
                with ui.row().classes("w-full items-end gap-4"):
                    scope_input = ui.input("Scope: * = whole site, or a twin id", value=WHOLE_SITE,
                                           autocomplete=[WHOLE_SITE, *sorted(state.twins)]).props(
                        "dense data-testid=killswitch-scope").classes("w-72")
                    reason_input = ui.input("Reason").props(
                        "dense maxlength=1000 data-testid=killswitch-reason").classes("w-96")
                    engage_button = ui.button("Engage kill switch", icon="block").props(
                        "unelevated color=negative data-testid=killswitch-engage")
            else:
                ui.label(f"Read-only: the {role} role cannot engage the kill switch; it needs operator (and "
                         "releasing it, engineer).").classes("tv-muted").props("data-testid=killswitch-read-only")
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-center w-full gap-3"):
                ui.label("Commands waiting for approval").classes("tv-section")
                count = ui.badge("0", color="grey-6").props("rounded data-testid=approvals-count")
            if can_approve:
                ui.label("Approving binds your approval to the request's digest (twin, command and payload); the "
                         "requester cannot approve their own command.").classes("tv-muted")
            else:
                ui.label(f"Read-only: the {role} role cannot approve or reject commands; it needs engineer."
                         ).classes("tv-muted").props("data-testid=approvals-read-only")
            table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 20}).props(
                "flat dense wrap-cells data-testid=approvals-table").classes("w-full")
            for slot, template in (("twinId", shell.twin_link_slot(stop=True)), ("command", COMMAND_SLOT),
                                   ("payload", PAYLOAD_SLOT), ("by", BY_SLOT), ("requested", REQUESTED_SLOT),
                                   ("deadline", DEADLINE_SLOT), ("approvals", APPROVALS_SLOT),
                                   ("digest", DIGEST_SLOT), ("action", ACTION_SLOT)):
                table.add_slot(f"body-cell-{slot}", template)
            table.add_slot("no-data", '<div class="tv-muted q-pa-md" data-testid="approvals-empty">No command is '
                                      "waiting for approval.</div>")
            load_error = ui.label("").classes("text-negative").props("data-testid=approvals-error")

    async def refresh() -> None:
        # Also run from the live hub and the bus (no client context): no notify here.
        try:
            switches = await asyncio.to_thread(service.kill_switches, tenant)
            pending = await asyncio.to_thread(service.pending, tenant, LIMIT)
        except TvillingError as exc:
            load_error.text = problem(exc)
            return
        load_error.text = ""
        now = dash.services.clock.now()
        switch_table.rows = [switch_row(k, can_approve) for k in switches]
        switch_table.update()
        switch_table.set_visibility(bool(switches))
        if switches:
            status.text = "Engaged: commands are stopped for " + ", ".join(scope_text(k.scope) for k in switches)
            status.classes(replace="text-weight-medium text-negative")
        else:
            status.text = "Not engaged: commands flow."
            status.classes(replace="text-weight-medium text-positive")
        pending = [c for c in pending if c.state is CommandState.PENDING_APPROVAL]
        shown.clear()
        shown.update((c.id, c) for c in pending)
        table.rows = [pending_row(c, now, actor, can_approve) for c in pending]
        table.update()
        count.text = str(len(pending))
        count.props(f"color={'accent' if pending else 'grey-6'}")
        refreshed.text = "updated " + now.strftime("%H:%M:%S") + " UTC"

    kick = shell.Refresher(refresh)

    # -- approve / reject -----------------------------------------------------------------------------------
    with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 480px").props(
            "data-testid=approval-dialog"):
        dialog_title = ui.label("").classes("tv-section").props("data-testid=approval-dialog-title")
        with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 items-baseline"):
            details: dict[str, ui.label] = {}
            for key, label in (("twin", "Twin"), ("command", "Command"), ("payload", "Payload"),
                               ("by", "Requested by"), ("deadline", "Deadline"), ("approvals", "Approvals"),
                               ("digest", "Digest")):
                ui.label(label).classes("tv-muted")
                details[key] = ui.label("").props(f"data-testid=approval-{key}").style("word-break: break-all")
        reason = ui.input("Reason").props("dense outlined maxlength=1000 data-testid=approval-reason").classes(
            "w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Back", on_click=dialog.close).props("flat data-testid=approval-cancel")
            confirm = ui.button("Confirm", on_click=lambda: dialog.submit(True)).props(
                "unelevated data-testid=approval-confirm")

    async def decide(command_id: str, action: str) -> None:
        # Checked here, on the server, whatever the browser shows: the service trusts its caller on roles.
        if not session.can(Role.ENGINEER):
            ui.notify(f"the {role} role cannot {action} commands; it needs engineer", type="negative")
            return
        cmd = shown.get(command_id)
        if cmd is None:
            ui.notify(f"command {command_id} is no longer waiting for approval", type="warning")
            kick()
            return
        dialog_title.text = f"{action.capitalize()} this command?"
        details["twin"].text, details["command"].text = cmd.twin_id, cmd.name
        details["payload"].text = "–" if cmd.payload is None else json.dumps(cmd.payload, ensure_ascii=False,
                                                                               default=str)
        details["by"].text = f"{cmd.context.actor} at {stamp(cmd.requested_at)} UTC"
        details["deadline"].text = f"{stamp(cmd.expires_at)} UTC"
        details["approvals"].text = (f"{len(cmd.approvals)} of {cmd.approvals_required}"
                                     + (f" ({', '.join(a.actor for a in cmd.approvals)})" if cmd.approvals else ""))
        details["digest"].text = cmd.digest
        reason.value = ""
        reason.set_visibility(action == "reject")
        confirm.text = "Approve" if action == "approve" else "Reject"
        confirm.props(f"color={'positive' if action == 'approve' else 'negative'}")
        if not await dialog:
            return
        try:
            if action == "approve":
                done = await service.approve(tenant, command_id, actor, cmd.digest)
            else:
                done = await service.reject(tenant, command_id, actor, (reason.value or "").strip())
        except TvillingError as exc:  # the two-person rule, a second approval, a digest or state conflict
            ui.notify(problem(exc), type="negative", multi_line=True)
            kick()
            return
        if action == "reject":
            ui.notify(f"{done.name} on {done.twin_id} rejected", type="positive")
        elif done.state is CommandState.PENDING_APPROVAL:
            ui.notify(f"Approval recorded: {len(done.approvals)} of {done.approvals_required} for {done.name} on "
                      f"{done.twin_id}", type="positive")
        else:
            ui.notify(f"{done.name} on {done.twin_id} approved: it is sent to the device", type="positive")
        kick()

    # -- kill switch ----------------------------------------------------------------------------------------
    with ui.dialog() as switch_dialog, ui.card().classes("q-pa-md").style("min-width: 460px").props(
            "data-testid=killswitch-dialog"):
        switch_text = ui.label("").props("data-testid=killswitch-dialog-text")
        release_reason = ui.input("Reason (optional)").props(
            "dense outlined maxlength=1000 data-testid=killswitch-release-reason").classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Back", on_click=switch_dialog.close).props("flat data-testid=killswitch-cancel")
            switch_confirm = ui.button("Confirm", on_click=lambda: switch_dialog.submit(True)).props(
                "unelevated data-testid=killswitch-confirm")

    async def engage() -> None:
        if not session.can(Role.OPERATOR):
            ui.notify(f"the {role} role cannot engage the kill switch; it needs operator", type="negative")
            return
        scope = (scope_input.value or "").strip()
        if not scope:
            ui.notify("enter * for the whole site, or a twin id", type="warning")
            return
        where = "the whole site" if scope == WHOLE_SITE else f"twin {scope}"
        switch_text.text = (f"Engage the kill switch for {where}? New commands are refused and every command not "
                            "yet handed to a device is canceled, until an engineer releases it.")
        release_reason.set_visibility(False)
        switch_confirm.text = "Engage"
        switch_confirm.props("color=negative")
        if not await switch_dialog:
            return
        try:
            switch, canceled = await service.engage(tenant, scope, actor, (reason_input.value or "").strip())
        except TvillingError as exc:
            ui.notify(problem(exc), type="negative", multi_line=True)
            return
        ui.notify(f"Kill switch engaged for {scope_text(switch.scope)}"
                  + (f"; {canceled} command(s) canceled" if canceled else ""), type="warning")
        reason_input.value = ""
        kick()

    async def release(scope: str) -> None:
        if not session.can(Role.ENGINEER):
            ui.notify(f"the {role} role cannot release the kill switch; it needs engineer", type="negative")
            return
        switch_text.text = f"Release the kill switch for {scope_text(scope)}? Commands flow again there."
        release_reason.value = ""
        release_reason.set_visibility(True)
        switch_confirm.text = "Release"
        switch_confirm.props("color=primary")
        if not await switch_dialog:
            return
        try:
            await service.release(tenant, scope, actor, (release_reason.value or "").strip())
        except TvillingError as exc:
            ui.notify(problem(exc), type="negative", multi_line=True)
            kick()
            return
        ui.notify(f"Kill switch for {scope_text(scope)} released", type="positive")
        kick()

    table.on("approve", lambda e: decide(str(e.args), "approve"))
    table.on("reject", lambda e: decide(str(e.args), "reject"))
    switch_table.on("release", lambda e: release(str(e.args)))
    refresh_button.on_click(kick)
    if can_engage:
        engage_button.on_click(engage)
    await refresh()

    def on_change(_ids: set[str], kinds: set[str]) -> None:
        if "commands" in kinds:  # command.pending_approval / approval / requested / rejected / canceled / expired
            kick()

    shell.watch(session, on_change)
    shell.follow(session, ["killswitch"], kick)
    return None
