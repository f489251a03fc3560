"""Audit: the tenant's tamper-evident audit trail (docs/commands.md, "Audit trail") for engineers.

"Verify chain" recomputes the hash chain and says whether it is intact, how many records it holds and its head
hash (keep that elsewhere to prove later that nothing was rewritten), or names the first record that does not
check and why. Below, the newest records (position, time, actor, category, action, subject, detail as compact JSON,
hash) with "Older" paging and filters on subject (exact: a command id, twin id or kill-switch scope) and category.

Reads go through the platform's one :class:`~tvilling.app.commands.CommandService` (the one behind
``/api/v1/audit``); like that route, the page needs the engineer role (checked here, on the server: other roles
get a note and no data). The first page follows new records live (``command.*``, ``workorder.*`` and
``killswitch.*`` events); older pages stay put.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.commands import CommandService
from tvilling.core.audit import AuditRecord
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

PAGE_SIZE = 50
HASH_SHOWN = 10
SUBJECT_SHOWN = 14  # longer subjects (command ids) are cut in the table; the link's title has all of it
CATEGORIES = {"": "All", "command": "command", "approval": "approval", "guard": "guard", "killswitch": "killswitch",
              "workorder": "workorder"}
COLUMNS: list[dict[str, Any]] = [
    {"name": "n", "label": "#", "field": "n", "align": "right"},
    {"name": "at", "label": "Time (UTC)", "field": "at", "align": "left", "classes": "text-no-wrap"},
    {"name": "actor", "label": "Actor", "field": "actor", "align": "left"},
    {"name": "category", "label": "Category", "field": "category", "align": "left"},
    {"name": "action", "label": "Action", "field": "action", "align": "left"},
    {"name": "subject", "label": "Subject", "field": "subject", "align": "left"},
    {"name": "detail", "label": "Detail", "field": "detail", "align": "left"},
    {"name": "hash", "label": "Hash", "field": "hash", "align": "left"},
]
N_SLOT = r'''<q-td :props="props"><span :data-testid="'audit-n-' + props.row.n">{{ props.row.n }}</span></q-td>'''
ACTION_SLOT = r'''
<q-td :props="props"><span class="text-weight-medium" :data-testid="'audit-action-' + props.row.n">
  {{ props.row.action }}</span></q-td>'''
SUBJECT_SLOT = r'''
<q-td :props="props"><a href="#" @click.prevent.stop="() => $parent.$emit('subject', props.row.subject)"
  style="color:#1f4e79;text-decoration:none;white-space:nowrap"
  :title="props.row.subject + ' (show only this subject)'">
  {{ props.row.subjectText }}</a></q-td>'''
DETAIL_SLOT = r'''
<q-td :props="props" style="min-width:320px;max-width:600px">
  <code style="font-size:.75rem;word-break:break-all;white-space:normal">
  {{ props.row.detail }}</code></q-td>'''
HASH_SLOT = r'''
<q-td :props="props"><code style="font-size:.75rem" :title="props.row.hashFull">{{ props.row.hash }}</code></q-td>'''


def short(text: str, keep: int = HASH_SHOWN) -> str:
    return text if len(text) <= keep + 1 else text[:keep] + "…"


def record_row(r: AuditRecord) -> dict[str, Any]:
    d = r.as_dict()
    detail = d.get("detail") or {}
    return {"n": r.n, "at": str(d.get("at") or "").replace("T", " ")[:19], "actor": d.get("actor") or "",
            "category": d.get("category") or "", "action": d.get("action") or "", "subject": d.get("subject") or "",
            "subjectText": short(str(d.get("subject") or ""), SUBJECT_SHOWN),
            "detail": json.dumps(detail, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
            if detail else "", "hash": short(r.hash), "hashFull": r.hash}


def verification_text(result: dict[str, Any]) -> tuple[str, bool]:
    """The verdict line for ``Verification.as_dict()``, and whether the chain is intact."""
    if result.get("ok"):
        return (f"Chain intact: {result.get('records', 0)} record(s) check, up to record #{result.get('headN', 0)}",
                True)
    return (f"Chain broken at record #{result.get('firstBad')}: {result.get('reason') or 'no reason given'} "
            f"({result.get('records', 0)} record(s) before it check)", False)


def next_before(items: list[AuditRecord]) -> int | None:
    """The ``before`` for the next (older) page, or None at the start of the trail."""
    return items[-1].n if len(items) == PAGE_SIZE and items[-1].n > 1 else None


@ui.page("/audit", title="Tvilling · audit trail")
async def audit_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/audit", "Audit trail")
    dash, tenant = session.dash, session.tenant
    found: CommandService | None = getattr(dash.app_state, "commands", None)
    if not session.can(Role.ENGINEER) or found is None:
        with ui.card().classes("tv-card q-pa-lg q-ma-md"):
            ui.label("Audit trail").classes("tv-title")
            if found is None:
                ui.label("The command service, which keeps the audit trail, is not running on this server."
                         ).classes("tv-muted").props("data-testid=audit-unavailable")
            else:
                ui.label(f"The audit trail needs the engineer role; the {session.principal.role.value} role "
                         "cannot read it.").classes("tv-muted").props("data-testid=audit-forbidden")
        return None
    service = found
    pages: list[int] = [0]  # the ``before`` of each page up to the one shown (0: from the newest record)
    latest: dict[str, int | None] = {"older": None}

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.row().classes("items-center w-full gap-4"):
            ui.label("Audit trail").classes("tv-title")
            ui.label("Every command, approval, guard refusal and kill switch, chained by SHA-256.").classes(
                "tv-muted")
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-center w-full gap-4"):
                ui.label("Chain").classes("tv-section")
                verify_button = ui.button("Verify chain", icon="verified").props(
                    "unelevated color=primary data-testid=audit-verify")
                verdict = ui.label("Not verified yet on this page.").classes("tv-muted").props(
                    "data-testid=audit-verify-result")
            with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 items-baseline") as facts:
                ui.label("Records").classes("tv-muted")
                records_label = ui.label("–").props("data-testid=audit-records")
                ui.label("Head").classes("tv-muted")
                head_label = ui.label("–").classes("text-mono").style("word-break: break-all").props(
                    "data-testid=audit-head-hash")
            facts.set_visibility(False)
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-end w-full gap-4"):
                ui.label("Records, newest first").classes("tv-section")
                ui.space()
                subject_input = ui.input("Subject (exact id)").props(
                    "dense outlined clearable debounce=400 data-testid=audit-subject").style("width: 260px")
                category_select = ui.select(CATEGORIES, value="", label="Category").props(
                    "dense outlined data-testid=audit-category").style("width: 170px")
                refresh_button = ui.button(icon="refresh").props(
                    "flat round dense color=primary data-testid=audit-refresh").tooltip("Refresh")
            table = ui.table(columns=COLUMNS, rows=[], row_key="n", pagination={"rowsPerPage": 0}).props(
                "flat dense wrap-cells hide-bottom data-testid=audit-table").classes("w-full")
            for slot, template in (("n", N_SLOT), ("action", ACTION_SLOT), ("subject", SUBJECT_SLOT),
                                   ("detail", DETAIL_SLOT), ("hash", HASH_SLOT)):
                table.add_slot(f"body-cell-{slot}", template)
            table.add_slot("no-data", '<div class="tv-muted q-pa-md" data-testid="audit-empty">No audit records '
                                      "match.</div>")
            with ui.row().classes("items-center w-full gap-2"):
                newest_button = ui.button("Newest", icon="first_page").props(
                    "flat dense no-caps data-testid=audit-newest")
                older_button = ui.button("Older", icon="chevron_right").props(
                    "flat dense no-caps data-testid=audit-older")
                span_label = ui.label("").classes("tv-muted").props("data-testid=audit-range")
                ui.space()
                load_error = ui.label("").classes("text-negative").props("data-testid=audit-error")

    def filters() -> tuple[str | None, str | None]:
        subject = (subject_input.value or "").strip() or None
        category = str(category_select.value or "") or None
        return subject, category

    async def refresh() -> None:
        # Also run from the live hub and the bus (no client context): no notify here.
        subject, category = filters()
        try:
            items = await asyncio.to_thread(lambda: service.audit_page(
                tenant, before=pages[-1], limit=PAGE_SIZE, subject=subject, category=category))
        except TvillingError as exc:
            load_error.text = exc.message
            return
        load_error.text = ""
        table.rows = [record_row(r) for r in items]
        table.update()
        latest["older"] = next_before(items)
        older_button.set_enabled(latest["older"] is not None)
        newest_button.set_enabled(len(pages) > 1)
        span_label.text = (f"records #{items[0].n} – #{items[-1].n}" if items else "") + (
            f" · page {len(pages)}" if len(pages) > 1 else "")

    kick = shell.Refresher(refresh)

    def newest(*_: Any) -> None:
        del pages[1:]
        kick()

    def older() -> None:
        if latest["older"] is not None:
            pages.append(latest["older"])
            kick()

    async def verify() -> None:
        verify_button.props("loading")
        try:
            result = (await asyncio.to_thread(service.verify_audit, tenant)).as_dict()
        except TvillingError as exc:
            ui.notify(exc.message, type="negative")
            return
        finally:
            verify_button.props(remove="loading")
        text, ok = verification_text(result)
        verdict.text = text
        verdict.classes(replace="text-weight-medium " + ("text-positive" if ok else "text-negative"))
        records_label.text = str(result.get("records", 0))
        head_label.text = f"#{result.get('headN', 0)} {result.get('headHash', '')}"
        facts.set_visibility(True)

    def by_subject(e: Any) -> None:
        subject_input.value = str(e.args or "")  # its change handler goes back to the newest records

    verify_button.on_click(verify)
    refresh_button.on_click(kick)
    newest_button.on_click(newest)
    older_button.on_click(older)
    table.on("subject", by_subject)
    for f in (subject_input, category_select):
        f.on_value_change(newest)
    await refresh()

    def live(*_: Any) -> None:
        if len(pages) == 1:  # the newest page follows new records; an older one stays where the reader is
            kick()

    shell.watch(session, lambda _ids, kinds: live() if kinds & {"commands", "workorders"} else None)
    shell.follow(session, ["killswitch"], live)
    return None
