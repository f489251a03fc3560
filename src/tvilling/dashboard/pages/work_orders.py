"""Work orders: maintenance raised from predictive insights by the rules of ``maintenance.yaml`` and made by people
(docs/work-orders.md). KPIs (proposed, open, due soon, released automatically against the daily limit, policy
mode), the list with filters, each one's evidence (trigger, P(failure), RUL interval, anomalous signals, the
insight's context) and audit trail; operators approve / reject proposed ones, complete / cancel open ones (after a
confirmation, with an optional comment) and create new ones. Operators also set the tenant's cap on the policy mode
(``off`` is the kill switch); the service lets them lower it only, raising it needs engineer. A viewer sees
everything read-only.

Every read and action goes through the platform's one :class:`~tvilling.app.work_orders.WorkOrderService` (the
one behind ``/api/v1/work-orders``), which checks the role itself: a forged action from a viewer's browser is
refused there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.work_orders import WorkOrderService, work_order_service
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell
from tvilling.policy.work_orders import LIVE_STATES, PRIORITIES, WorkOrder

DUE_SOON = timedelta(hours=72)
LIMIT = 500  # rows read per refresh (newest first)
STATE_FILTERS = {"live": "Live (proposed + open)", "proposed": "Proposed", "open": "Open", "done": "Done",
                 "rejected": "Rejected", "cancelled": "Cancelled", "all": "All"}
# action -> (button label, verb for the dialog, colour)
ACTIONS = {"approve": ("Approve", "Approve and release", "positive"), "reject": ("Reject", "Reject", "negative"),
           "complete": ("Complete", "Mark as done", "primary"), "cancel": ("Cancel", "Cancel", "grey-8")}
MODE_COLORS = {"auto": "#2e9d5b", "approve": "#e0a220", "off": "#d64545"}
MODE_TEXT = {"auto": "auto: rules release work orders at once (within the daily limit)",
             "approve": "approve: every work order a rule raises waits for approval",
             "off": "off: no work orders are raised from insights (the kill switch)"}
MODES = ("off", "approve", "auto")  # from least to most automatic, as the dialog lists them

COLUMNS: list[dict[str, Any]] = [
    {"name": "priority", "label": "Priority", "field": "rank", "align": "left", "sortable": True},
    {"name": "twinId", "label": "Twin", "field": "twinId", "align": "left", "sortable": True},
    {"name": "title", "label": "Title", "field": "title", "align": "left"},
    {"name": "state", "label": "State", "field": "state", "align": "left", "sortable": True},
    {"name": "due", "label": "Due by (UTC)", "field": "dueSort", "align": "left", "sortable": True},
    {"name": "created", "label": "Created (UTC)", "field": "createdSort", "align": "left", "sortable": True},
    {"name": "action", "label": "", "field": "id", "align": "right"},
]
PRIORITY_SLOT = r'''
<q-td :props="props"><q-badge :color="{urgent:'negative',high:'deep-orange',medium:'amber-8',low:'grey-6'}
  [props.row.priority] || 'grey'" :label="props.row.priority" :data-testid="'wo-priority-' + props.row.id" /></q-td>'''
TITLE_SLOT = r'''
<q-td :props="props"><div>{{ props.row.title }}</div>
  <div v-if="props.row.comment" class="tv-muted">“{{ props.row.comment }}”</div></q-td>'''
STATE_SLOT = r'''
<q-td :props="props"><q-badge outline :color="{proposed:'warning',open:'primary',done:'positive'}[props.row.state]
  || 'grey-7'" :label="props.row.state" :data-testid="'wo-state-' + props.row.id" />
  <div class="tv-muted">{{ props.row.modeText }}</div></q-td>'''
DUE_SLOT = r'''
<q-td :props="props"><div>{{ props.row.due }}</div>
  <div v-if="props.row.dueHint" :class="props.row.overdue ? 'text-negative text-weight-medium' : 'tv-muted'">
    {{ props.row.dueHint }}</div></q-td>'''
CREATED_SLOT = r'''
<q-td :props="props"><div>{{ props.row.created }}</div>
  <div class="tv-muted" :data-testid="'wo-by-' + props.row.id">by {{ props.row.createdBy }}</div></q-td>'''
ACTION_SLOT = r'''
<q-td :props="props" auto-width><div class="row no-wrap justify-end" style="gap:4px">
  <q-btn dense flat size="sm" icon="fact_check" color="secondary" :data-testid="'wo-evidence-' + props.row.id"
    @click.stop="() => $parent.$emit('show', props.row.id)"><q-tooltip>Evidence and audit trail</q-tooltip></q-btn>
  <template v-if="props.row.canAct && props.row.state === 'proposed'">
    <q-btn dense unelevated size="sm" color="positive" label="Approve" :data-testid="'wo-approve-' + props.row.id"
      @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'approve'})" />
    <q-btn dense outline size="sm" color="negative" label="Reject" :data-testid="'wo-reject-' + props.row.id"
      @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'reject'})" />
  </template>
  <template v-if="props.row.canAct && props.row.state === 'open'">
    <q-btn dense unelevated size="sm" color="primary" label="Complete" :data-testid="'wo-complete-' + props.row.id"
      @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'complete'})" />
    <q-btn dense outline size="sm" color="grey-8" label="Cancel" :data-testid="'wo-cancel-' + props.row.id"
      @click.stop="() => $parent.$emit('act', {id: props.row.id, action: 'cancel'})" />
  </template>
</div></q-td>'''


def stamp(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if t is not None else "–"


def span(delta: timedelta) -> str:
    """'3 h', '2 d 4 h', '25 min' for a positive duration."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d {hours % 24} h"


def due_hint(order: WorkOrder, now: datetime) -> tuple[str, bool]:
    """('in 31 h' | 'overdue by 2 h' | '', overdue?) for a live work order with a due time."""
    if order.due_by is None or not order.live:
        return "", False
    if order.due_by < now:
        return f"overdue by {span(now - order.due_by)}", True
    return f"in {span(order.due_by - now)}", False


def mode_text(order: WorkOrder) -> str:
    if order.mode == "manual":
        return "made by hand"
    if order.mode == "auto":
        return f"released by rule {order.rule_id}"
    return f"proposed by rule {order.rule_id}"


def row(order: WorkOrder, now: datetime, can_act: bool) -> dict[str, Any]:
    hint, overdue = due_hint(order, now)
    return {"id": order.id, "twinId": order.twin_id, "title": order.title, "state": order.state,
            "priority": order.priority, "rank": PRIORITIES.index(order.priority) if order.priority in PRIORITIES
            else -1, "modeText": mode_text(order), "comment": order.comment or "",
            "due": stamp(order.due_by), "dueSort": order.due_by.isoformat() if order.due_by else "",
            "dueHint": hint, "overdue": overdue, "created": stamp(order.created_at),
            "createdSort": order.created_at.isoformat(), "createdBy": order.created_by, "canAct": can_act}


def kpis(live: list[WorkOrder], policy: Mapping[str, Any], now: datetime) -> dict[str, str]:
    """Counts over the live work orders, and the policy's releases against its daily limit."""
    return {"proposed": str(sum(1 for o in live if o.state == "proposed")),
            "open": str(sum(1 for o in live if o.state == "open")),
            "due": str(sum(1 for o in live if o.due_by is not None and o.due_by <= now + DUE_SOON)),
            "released": f"{policy.get('autoReleasedLast24h', 0)} / {policy.get('maxAutoPerDay', '–')}",
            "mode": str(policy.get("mode", "–"))}


def mode_source(policy: Mapping[str, Any]) -> str:
    """Under the mode KPI: who set the tenant's cap, when and why, and the rules file's mode where it differs from
    the one in force (or where it, not the cap, is what holds the mode down)."""
    mode, file_mode, cap = policy.get("mode"), policy.get("fileMode"), policy.get("tenantMode")
    parts: list[str] = []
    if cap:
        when = policy.get("modeChangedAt")
        parts.append((f"tenant cap {cap}, " if cap != mode else "") + f"set by {policy.get('modeChangedBy') or '–'}"
                     + (f" at {utc(when)[:16]} UTC" if when else ""))
        note = " ".join(str(policy.get("modeComment") or "").split())
        if note:  # up to 2000 characters: the card keeps the start
            parts.append(f"“{note if len(note) <= 80 else note[:79] + '…'}”")
    if file_mode and (file_mode != mode or (cap and cap != mode)):
        parts.append(f"file: {file_mode}")
    return " · ".join(parts)


def matches(order: WorkOrder, needle: str) -> bool:
    needle = needle.strip().lower()
    return not needle or any(needle in f.lower() for f in (order.twin_id, order.title, order.id, order.rule_id or ""))


def utc(iso_text: Any) -> str:
    """'2026-03-09 14:05:00 UTC' from an ISO time string (the insights' ``…Z`` or ``…+00:00`` form)."""
    return str(iso_text).replace("T", " ").replace("Z", "")[:19] + " UTC"


def pct(value: Any) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


def hours(value: Any) -> str:
    return f"{float(value):.0f} h" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


def evidence_lines(evidence: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, text, test id) for the evidence panel, from a work order's ``evidence``."""
    raw_insight, raw_anomaly = evidence.get("insight"), evidence.get("anomaly")
    insight: Mapping[str, Any] = raw_insight if isinstance(raw_insight, Mapping) else {}
    anomaly: Mapping[str, Any] = raw_anomaly if isinstance(raw_anomaly, Mapping) else {}
    if evidence.get("trigger") == "anomaly":
        anomaly = insight  # the insight is the anomaly episode itself
    out: list[tuple[str, str, str]] = []
    if evidence.get("trigger"):
        when = insight.get("at") or insight.get("detected_at") or insight.get("time")
        out.append(("Trigger", str(insight.get("kind", evidence["trigger"])) + (f" at {utc(when)}" if when else ""),
                    "wo-ev-trigger"))
    if "p_failure" in insight:
        out.append((f"P(failure within {shell.fmt(insight.get('horizon_hours'))} h)", pct(insight["p_failure"]),
                    "wo-ev-pfailure"))
    rul = insight.get("rul_hours")
    if isinstance(rul, Mapping):
        level = rul.get("level")
        label = f"{float(level):.0%} interval" if isinstance(level, int | float) and level <= 1 else "interval"
        out.append(("Remaining useful life", f"{hours(rul.get('mean'))} ({label} {hours(rul.get('lower'))} – "
                                             f"{hours(rul.get('upper'))})", "wo-ev-rul"))
    if anomaly:
        signals = anomaly.get("signals")
        text = ", ".join(str(s) for s in signals) if isinstance(signals, list) and signals else "–"
        out.append(("Anomalous signals", text, "wo-ev-signals"))
        since = anomaly.get("since") or anomaly.get("detected_at")
        if since:
            out.append(("Abnormal since", utc(since), "wo-ev-since"))
        if isinstance(anomaly.get("score"), int | float):
            out.append(("Anomaly score", f"{float(anomaly['score']):.3f}", "wo-ev-score"))
    if insight.get("context_id"):
        out.append(("Insight context id", str(insight["context_id"]), "wo-ev-context"))
    return out


TRANSITION_COLUMNS: list[dict[str, Any]] = [
    {"name": "time", "label": "When (UTC)", "field": "time", "align": "left"},
    {"name": "kind", "label": "What", "field": "kind", "align": "left"},
    {"name": "state", "label": "State after", "field": "state", "align": "left"},
    {"name": "actor", "label": "By", "field": "actor", "align": "left"},
    {"name": "comment", "label": "Comment", "field": "comment", "align": "left"},
]


def transition_rows(transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"seq": i, "time": str(t.get("time") or "").replace("T", " ").replace("Z", "")[:19],
             "kind": t.get("kind", ""), "state": t.get("state", ""), "actor": t.get("actor", ""),
             "comment": t.get("comment") or ""} for i, t in enumerate(transitions)]


def parse_due(text: str | None) -> datetime | None:
    """A ``datetime-local`` value ('2026-12-01T08:00'), read as UTC like every time on the dashboard."""
    if not text or not text.strip():
        return None
    t = datetime.fromisoformat(text.strip())
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


@ui.page("/maintenance", title="Tvilling · work orders")
async def work_orders_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/maintenance", "Work orders")
    dash, tenant = session.dash, session.tenant
    service: WorkOrderService = work_order_service(dash.app_state, dash.services)
    state = await dash.hub.tenant(tenant)  # loaded before watching (the hub serves every page of the tenant)
    can_act = session.can(Role.OPERATOR)
    selected: dict[str, str | None] = {"id": None}

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.row().classes("w-full gap-4"):
            k_proposed = shell.kpi("Proposed (awaiting approval)", "–", mark="wo-kpi-proposed")
            k_open = shell.kpi("Open", "–", mark="wo-kpi-open")
            k_due = shell.kpi("Due within 72 h (incl. overdue)", "–", mark="wo-kpi-due")
            k_released = shell.kpi("Released automatically, 24 h / limit", "–", mark="wo-kpi-released")
            with ui.card().classes("tv-card q-pa-md").style("min-width: 150px; flex: 1"):  # shell.kpi, and more
                with ui.row().classes("w-full items-center no-wrap gap-1"):
                    ui.label("Policy mode").classes("tv-kpi-label")
                    ui.space()
                    if can_act:  # the service still decides: operators lower, engineers raise
                        mode_button = ui.button("Change…").props(
                            "flat dense no-caps size=sm color=primary data-testid=wo-mode-change").tooltip(
                            "Cap the policy mode for this tenant (off = kill switch)")
                k_mode = ui.label("–").classes("tv-kpi-value").props("data-testid=wo-kpi-mode")
                k_mode_source = ui.label("").classes("tv-muted").props("data-testid=wo-mode-source")
        policy_note = ui.label("").classes("tv-muted").props("data-testid=wo-policy")
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-center w-full gap-4"):
                ui.label("Work orders").classes("tv-title")
                ui.space()
                state_filter = ui.select(STATE_FILTERS, value="live", label="State").props(
                    "dense outlined data-testid=wo-state-filter").style("width: 210px")
                text_filter = ui.input("Twin or title").props(
                    "dense outlined clearable data-testid=wo-text-filter").style("width: 220px")
            if not can_act:
                ui.label(f"Read-only: the {session.principal.role.value} role cannot act on work orders; it needs "
                         "operator.").classes("tv-muted").props("data-testid=read-only")
            table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 15}).props(
                "flat dense wrap-cells data-testid=wo-table").classes("w-full")
            table.add_slot("body-cell-priority", PRIORITY_SLOT)
            table.add_slot("body-cell-twinId", shell.twin_link_slot(stop=True))
            table.add_slot("body-cell-title", TITLE_SLOT)
            table.add_slot("body-cell-state", STATE_SLOT)
            table.add_slot("body-cell-due", DUE_SLOT)
            table.add_slot("body-cell-created", CREATED_SLOT)
            table.add_slot("body-cell-action", ACTION_SLOT)
            table.add_slot("no-data", '<div class="tv-muted q-pa-md">No work orders match the filter.</div>')
            ui.label("Click a row for its evidence and audit trail.").classes("tv-muted")
        evidence_card = ui.card().classes("tv-card q-pa-md w-full").props("data-testid=wo-evidence")
        evidence_card.set_visibility(False)
        if can_act:
            with ui.card().classes("tv-card q-pa-md w-full"):
                ui.label("New work order").classes("tv-section")
                ui.label("Made by hand, it is released (open) at once: you are the approval.").classes("tv-muted")
                with ui.row().classes("w-full items-end gap-4"):
                    new_twin = ui.input("Twin id", autocomplete=sorted(state.twins)).props(
                        "dense data-testid=wo-new-twin").classes("w-56")
                    new_title = ui.input("Title").props("dense data-testid=wo-new-title").classes("w-96")
                    new_priority = ui.select(list(PRIORITIES), value="medium", label="Priority").props(
                        "dense data-testid=wo-new-priority").classes("w-32")
                    new_due = ui.input("Due by (UTC, optional)").props(
                        "dense stack-label type=datetime-local data-testid=wo-new-due").classes("w-56")
                    create_button = ui.button("Create", icon="add").props(
                        "unelevated color=primary data-testid=wo-create")
                create_error = ui.label("").classes("text-negative").props("data-testid=wo-create-error")
        else:
            ui.label(f"The {session.principal.role.value} role cannot create work orders; it needs operator."
                     ).classes("tv-muted")

    def render_evidence() -> None:
        order_id = selected["id"]
        evidence_card.clear()
        if order_id is None:
            evidence_card.set_visibility(False)
            return
        evidence_card.set_visibility(True)
        try:
            order = service.get(tenant, order_id)
            transitions = service.transitions(tenant, order_id)
        except TvillingError as exc:  # also reached from the live watcher (no client context): no notify here
            with evidence_card:
                ui.label(exc.message).classes("text-negative")
            return
        with evidence_card:
            with ui.row().classes("items-center w-full gap-3"):
                ui.label("Evidence and audit trail").classes("tv-section")
                ui.label(order.title).classes("text-weight-medium").props("data-testid=wo-ev-title")
                ui.space()
                ui.button(icon="close", on_click=lambda: show(None)).props(
                    "flat round dense data-testid=wo-ev-close").tooltip("Close")
            with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 items-baseline"):
                base = [("Work order", order.id, "wo-ev-id"), ("Twin", order.twin_id, "wo-ev-twin"),
                        ("State", order.state, "wo-ev-state"), ("Priority", order.priority, "wo-ev-priority"),
                        ("Why", order.reason or "–", "wo-ev-reason"),
                        ("Created", f"{stamp(order.created_at)} UTC by {order.created_by}", "wo-ev-created"),
                        ("Due by", f"{stamp(order.due_by)}" + (" UTC" if order.due_by else ""), "wo-ev-due")]
                if order.closed_at is not None:
                    base.append(("Closed", f"{stamp(order.closed_at)} UTC by {order.closed_by}", "wo-ev-closed"))
                for label, text, mark in [*base, *evidence_lines(order.evidence)]:
                    ui.label(label).classes("tv-muted")
                    ui.label(text).props(f"data-testid={mark}")
            if order.description:
                ui.label(order.description).classes("q-mt-sm").props("data-testid=wo-ev-description")
            if not order.evidence:
                ui.label("Made by hand: no insight behind it.").classes("tv-muted q-mt-sm")
            ui.label("Audit trail").classes("tv-section q-mt-md")
            ui.table(columns=TRANSITION_COLUMNS, rows=transition_rows(transitions), row_key="seq").props(
                "flat dense wrap-cells hide-bottom data-testid=wo-transitions").classes("w-full")

    def show(order_id: str | None) -> None:
        selected["id"] = order_id
        render_evidence()
        if order_id is not None:
            ui.run_javascript(f"getHtmlElement({evidence_card.id})?.scrollIntoView("
                              "{behavior: 'smooth', block: 'nearest'})")

    def refresh(*_: Any) -> None:
        now = dash.services.clock.now()
        live = service.list(tenant, states=LIVE_STATES, limit=LIMIT)
        policy = service.policy_view(tenant)
        values = kpis(live, policy, now)
        for label, key in ((k_proposed, "proposed"), (k_open, "open"), (k_due, "due"), (k_released, "released"),
                           (k_mode, "mode")):
            label.text = values[key]
        k_mode.style(f"color: {MODE_COLORS.get(values['mode'], '#1b2a3a')}")
        k_mode_source.text = mode_source(policy)
        rules = len(policy.get("rules") or [])
        policy_note.text = (f"Policy {MODE_TEXT.get(values['mode'], values['mode'])}. "
                            + (f"{rules} rule(s) from {policy.get('file') or 'the configuration'}." if rules else
                               "No maintenance rules are loaded (maintenance.yaml beside the site's mappings): "
                               "work orders are made by hand only."))
        choice = str(state_filter.value or "live")
        if choice == "live":
            items = live
        else:
            items = service.list(tenant, states=None if choice == "all" else [choice], limit=LIMIT)
        items = [o for o in items if matches(o, text_filter.value or "")]
        table.rows = [row(o, now, can_act) for o in items]
        table.update()
        if selected["id"] is not None:
            render_evidence()

    with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 420px").props(
            "data-testid=wo-dialog"):
        dialog_text = ui.label("").props("data-testid=wo-dialog-text")
        comment = ui.input("Comment (optional)").props("dense outlined data-testid=wo-comment").classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Back", on_click=dialog.close).props("flat data-testid=wo-dialog-cancel")
            confirm = ui.button("Confirm", on_click=lambda: dialog.submit(True)).props(
                "unelevated color=primary data-testid=wo-dialog-confirm")

    async def act(order_id: str, action: str, note: str | None) -> None:
        try:  # the service checks the role: a forged action from a viewer's browser ends here, refused
            order = await asyncio.to_thread(service.act, tenant, order_id, action, role=session.principal.role,
                                            actor=session.principal.actor, comment=note)
        except TvillingError as exc:
            ui.notify(exc.message + (f" ({exc.hint})" if exc.hint else ""), type="negative")
            return
        ui.notify(f"Work order on {order.twin_id} is now {order.state}", type="positive")
        refresh()

    async def ask(event: Any) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        order_id, action = str(args.get("id", "")), str(args.get("action", ""))
        if not can_act or action not in ACTIONS:
            await act(order_id, action, None)  # refused by the service, which says why
            return
        try:
            order = service.get(tenant, order_id)
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        label, verb, color = ACTIONS[action]
        dialog_text.text = f"{verb}: {order.priority} work order on {order.twin_id}: {order.title}?"
        confirm.text = label
        confirm.props(f"color={color}")
        comment.value = ""
        if await dialog:
            await act(order_id, action, (comment.value or "").strip() or None)

    if can_act:
        with ui.dialog() as mode_dialog, ui.card().classes("q-pa-md").style("min-width: 460px").props(
                "data-testid=wo-mode-dialog"):
            ui.label("Work-order policy mode for this tenant").classes("tv-section")
            ui.label("Operators can lower automation (auto → approve → off); raising it needs engineer. The rules "
                     "file's mode still caps it: the stricter of the two is in force.").classes("tv-muted")
            mode_select = ui.radio({m: MODE_TEXT[m] for m in MODES}, value="auto").props(
                "data-testid=wo-mode-select")
            mode_comment = ui.input("Comment (optional)").props(
                "dense outlined maxlength=2000 data-testid=wo-mode-comment").classes("w-full")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Back", on_click=mode_dialog.close).props("flat data-testid=wo-mode-cancel")
                ui.button("Set mode", on_click=lambda: mode_dialog.submit(True)).props(
                    "unelevated color=primary data-testid=wo-mode-confirm")

    async def change_mode() -> None:
        policy = await asyncio.to_thread(service.policy_view, tenant)
        mode_select.value = policy.get("mode") if policy.get("mode") in MODES else "auto"
        mode_comment.value = ""
        if not await mode_dialog:
            return
        chosen, note = str(mode_select.value), (mode_comment.value or "").strip() or None
        try:  # the service checks the role and the direction: an operator raising it is refused there
            view = await asyncio.to_thread(service.set_mode, tenant, chosen, role=session.principal.role,
                                           actor=session.principal.actor, comment=note)
        except TvillingError as exc:
            ui.notify(exc.message + (f" ({exc.hint})" if exc.hint else ""), type="negative")
            return
        held = f" (the rules file's mode {view['fileMode']} still applies)" if view["mode"] != chosen else ""
        ui.notify(f"Work-order mode for this tenant: {view['mode']}{held}", type="positive")
        refresh()

    async def create() -> None:
        create_error.text = ""
        try:
            due = parse_due(new_due.value)
        except ValueError:
            create_error.text = f"Not a date and time: {new_due.value!r}"
            return
        try:
            order = await asyncio.to_thread(
                service.create, tenant, (new_twin.value or "").strip(), new_title.value or "",
                role=session.principal.role, actor=session.principal.actor, priority=str(new_priority.value),
                due=due)
        except TvillingError as exc:
            create_error.text = str(exc)
            return
        ui.notify(f"Work order on {order.twin_id} created (open)", type="positive")
        new_title.value = ""
        new_due.value = ""
        refresh()

    table.on("act", ask)
    table.on("show", lambda e: show(str(e.args)))
    table.on("rowClick", lambda e: show(str(e.args[1]["id"])), [[], ["id"], None])
    if can_act:
        create_button.on_click(create)
        mode_button.on_click(change_mode)
    for f in (state_filter, text_filter):
        f.on_value_change(refresh)
    refresh()

    def on_change(_ids: set[str], kinds: set[str]) -> None:
        if "workorders" in kinds:
            refresh()

    shell.watch(session, on_change)
    return None

