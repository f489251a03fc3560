"""Setpoints: the zone setpoint loops of ``setpoints.yaml`` (docs/setpoints.md), their autonomy and their proposals.

One card per loop: name, twin (a link to its page), mode, band and margin, the autonomy state of an ``auto`` loop
(enabled by whom and when, or off with the reason: a suspension by the loop itself, a person's disable, a
restart), and the last decision: what was decided, the setpoints now → proposed, the energy the model predicts for
both over the horizon and the saving, the confidence (the held-out day's energy error, whether the outdoor forecast
lies outside the fitted range), the reasons, and the commands sent with their states as they are now (read from
``app.state.commands``: a proposal keeps the state each had when it was stored). Below, the selected loop's
proposals, newest first, with *Older* / *Newest* paging on the ``(createdAt, id)`` cursor.

Engineers enable an ``auto`` loop's autonomy; operators disable it, with a reason (anyone who may stop commands may
stop a loop); viewers read. Every read and action goes through the platform's one
:class:`~tvilling.app.setpoint_loops.SetpointLoopService` (``app.state.setpoints``, the one behind
``/api/v1/setpoint-loops``). The service does not check roles itself (the API does, per route), so this page checks
them on the server in each handler as well as hiding the buttons. The page follows ``setpoint.*`` events on the bus
(proposed, enabled, disabled, suspended), and ``command.*`` on a loop's twin through the live hub, and re-reads the
store then; an older page of proposals stays put (proposals never change once stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.setpoint_loops import SetpointLoopService
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

PAGE_SIZE = 25  # proposals per page (the tests make it smaller)
UNIT = "°C"
DECISION_COLORS = {"sent": "positive", "awaiting approval": "warning", "recommended": "info", "unchanged": "grey-7",
                   "waiting": "grey-7", "refused": "negative", "failed": "negative", "suspended": "negative",
                   "no model": "grey-5"}
COMMAND_COLORS = {"acked": "positive", "sent": "info", "requested": "info", "pending_approval": "warning",
                  "failed": "negative", "expired": "negative", "refused": "negative", "rejected": "negative",
                  "canceled": "grey-7"}
MODE_TEXT = {"recommend": "recommend: proposals only, nothing is sent",
             "approve": "approve: every change waits for an approval",
             "auto": "auto: sent by itself while autonomy is enabled and the model is confident"}

COLUMNS: list[dict[str, Any]] = [
    {"name": "at", "label": "Zone time (UTC)", "field": "at", "align": "left", "classes": "text-no-wrap"},
    {"name": "decision", "label": "Decision", "field": "decision", "align": "left"},
    {"name": "heating", "label": "Heating", "field": "heating", "align": "left", "classes": "text-no-wrap"},
    {"name": "cooling", "label": "Cooling", "field": "cooling", "align": "left", "classes": "text-no-wrap"},
    {"name": "saving", "label": "Saving (kWh)", "field": "saving", "align": "right"},
    {"name": "confident", "label": "Confident", "field": "confident", "align": "left"},
    {"name": "reasons", "label": "Reasons", "field": "reasons", "align": "left"},
]
AT_SLOT = r'''
<q-td :props="props"><span :data-testid="'proposal-' + props.row.id" :title="'stored ' + props.row.created">
  {{ props.row.at }}</span></q-td>'''
DECISION_SLOT = r'''
<q-td :props="props"><q-badge outline :color="props.row.decisionColor" :label="props.row.decision"
  :data-testid="'proposal-decision-' + props.row.id" /></q-td>'''
CONFIDENT_SLOT = r'''
<q-td :props="props"><span :class="props.row.confidentClass">{{ props.row.confident }}</span></q-td>'''
REASONS_SLOT = r'''
<q-td :props="props" style="min-width:260px;white-space:normal">{{ props.row.reasons }}</q-td>'''


# -- pure formatting (unit-tested) --------------------------------------------------------------------------------
def stamp(iso: Any) -> str:
    """'2026-12-04 06:15:00' for an ISO time (UTC, 'Z'); '–' for none."""
    return str(iso).replace("T", " ").replace("Z", "").replace("+00:00", "")[:19] if iso else "–"


def num(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def temp(value: Any) -> str:
    """A setpoint to its 0.01 K, at least one decimal: '21.0', '21.5', '21.25' (steps are often 0.25 K)."""
    text = num(value, 2)
    return text if text == "–" else text.rstrip("0") + ("0" if text.rstrip("0").endswith(".") else "")


def band_text(loop: dict[str, Any]) -> str:
    band = loop.get("band") or {}
    text = f"{temp(band.get('low'))} – {temp(band.get('high'))} {UNIT}"
    margin = loop.get("margin")
    return text + (f" (aims {num(margin)} K inside)" if isinstance(margin, int | float) and margin else "")


def move(current: Any, proposed: Any, unit: str = UNIT) -> str:
    """'20.0 → 20.25 °C', '20.0 °C (kept)' when it does not move, '–' when unknown."""
    cur, new = temp(current), temp(proposed)
    if cur == "–" and new == "–":
        return "–"
    if new == "–" or cur == new:
        return f"{cur} {unit}" + (" (kept)" if new != "–" else "")
    return f"{cur} → {new} {unit}"


def setpoint_moves(p: dict[str, Any]) -> dict[str, str]:
    """Heating and cooling setpoint, now → proposed (a held setpoint says so)."""
    cur, new, held = p.get("current") or {}, p.get("proposed") or {}, p.get("held") or []
    out = {}
    for key, prop in (("heating", "heatingSetpoint"), ("cooling", "coolingSetpoint")):
        text = move(cur.get(prop), new.get(prop))
        out[key] = text + (f" (held: no {key} seen in the history)" if key in held else "")
    return out


def energy_text(p: dict[str, Any]) -> str:
    """'12.3 kWh with the current setpoints → 10.1 kWh proposed, over the next 6 h'."""
    cur, new = (p.get("current") or {}).get("energyKwh"), (p.get("proposed") or {}).get("energyKwh")
    if num(cur) == "–" or num(new) == "–":
        return "no energy prediction"
    horizon = p.get("horizonH")
    over = f", over the next {horizon:g} h" if isinstance(horizon, int | float) else ""
    return f"{num(cur)} kWh with the current setpoints → {num(new)} kWh proposed{over}"


def saving_text(saving: Any) -> str:
    """'saves 2.2 kWh', 'uses 0.4 kWh more', 'no saving', '–'."""
    if num(saving) == "–":
        return "–"
    if round(saving, 1) == 0:
        return "no saving"
    return f"saves {saving:.1f} kWh" if saving > 0 else f"uses {-saving:.1f} kWh more"


def confidence_parts(conf: dict[str, Any] | None) -> dict[str, str]:
    """The confidence gate in words: verdict, energy error, outdoor forecast (empty dict: no model)."""
    if not conf:
        return {}
    err = conf.get("energyError")
    lo_hi = conf.get("outdoorRange") or [None, None]
    lo, hi = [*lo_hi, None, None][:2]
    span = f" ({num(lo)} … {num(hi)} {UNIT})" if num(lo) != "–" and num(hi) != "–" else ""
    return {
        "verdict": "confident" if conf.get("confident") else "not confident",
        "energyError": (f"{err:+.0%}" if num(err) != "–" else "not known (no energy to check on)"),
        "outdoor": ("outside the fitted range" if conf.get("outOfDistribution") else "within the fitted range")
        + span,
    }


def confident_cell(p: dict[str, Any]) -> tuple[str, str]:
    """('yes' | 'no' | '–', its CSS class) for the proposals table."""
    conf = p.get("confidence")
    if not conf:
        return "–", "tv-muted"
    return ("yes", "text-positive") if conf.get("confident") else ("no", "text-negative text-weight-medium")


def autonomy_text(loop: dict[str, Any]) -> tuple[str, str]:
    """The autonomy line and its colour: none (not an auto loop), enabled, or off with the reason."""
    if loop.get("mode") != "auto":
        return f"No autonomy in {loop.get('mode')} mode: nothing is sent by the loop alone", "grey-7"
    a = loop.get("autonomy") or {}
    never = not a.get("changedAt")  # a loop whose autonomy nobody ever touched
    by = "" if never else f" — {a.get('changedBy') or '?'} at {stamp(a.get('changedAt'))} UTC"
    if a.get("enabled"):
        return f"Autonomy enabled{by}", "positive"
    reason = a.get("suspendedReason") or "not enabled yet"
    return f"Autonomy off: {reason}{by}", "negative" if a.get("suspendedReason") else "grey-7"


def command_rows(p: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for c in p.get("commands") or []:
        value = c.get("value")
        state = str(c.get("state") or "–")
        out.append({"id": str(c.get("id") or ""), "command": str(c.get("command") or ""),
                    "value": num(value, 2) if isinstance(value, int | float) else json.dumps(value, default=str),
                    "state": state, "color": COMMAND_COLORS.get(state, "grey"), "reason": str(c.get("reason") or "")})
    return out


def with_states(p: dict[str, Any], states: dict[str, str]) -> dict[str, Any]:
    """The proposal with its commands' states as they are now (``states``: command id -> state); the proposal keeps
    the state each had when the decision was stored; a command not found keeps that one."""
    commands = [{**c, "state": states[c["id"]]} if c.get("id") in states else c for c in p.get("commands") or []]
    return {**p, "commands": commands} if commands else p


def proposal_row(p: dict[str, Any]) -> dict[str, Any]:
    moves = setpoint_moves(p)
    confident, confident_class = confident_cell(p)
    decision = str(p.get("decision") or "–")
    return {"id": p["id"], "at": stamp(p.get("at")), "created": stamp(p.get("createdAt")), "decision": decision,
            "decisionColor": DECISION_COLORS.get(decision, "grey"), "heating": moves["heating"],
            "cooling": moves["cooling"], "saving": num(p.get("savingKwh"), 2), "confident": confident,
            "confidentClass": confident_class, "reasons": "; ".join(str(r) for r in p.get("reasons") or []) or "–"}


def cursor(p: dict[str, Any]) -> tuple[datetime, str]:
    """The ``before`` that continues after this proposal (its createdAt and id)."""
    return datetime.fromisoformat(str(p["createdAt"]).replace("Z", "+00:00")), str(p["id"])


def next_before(items: list[dict[str, Any]], page_size: int) -> tuple[datetime, str] | None:
    """The cursor for the next (older) page, or None when this page was the last."""
    return cursor(items[-1]) if items and len(items) >= page_size else None


def problem(exc: TvillingError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


# -- the page ---------------------------------------------------------------------------------------------------
@ui.page("/setpoints", title="Tvilling · setpoints")
async def setpoints_page(request: Request, loop: str | None = None) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/setpoints", "Setpoint loops")
    dash, tenant, actor = session.dash, session.tenant, session.principal.actor
    role = session.principal.role.value
    can_disable, can_enable = session.can(Role.OPERATOR), session.can(Role.ENGINEER)
    found: SetpointLoopService | None = getattr(dash.app_state, "setpoints", None)

    with ui.column().classes("w-full q-pa-md gap-4") as root:
        with ui.row().classes("items-center w-full gap-4"):
            ui.label("Setpoint loops").classes("tv-title")
            ui.label("Zone setpoints the optimiser proposes, within the band and the command guards.").classes(
                "tv-muted")
            ui.space()
            refreshed = ui.label("").classes("tv-muted").props("data-testid=setpoints-refreshed")
            refresh_button = ui.button("Refresh", icon="refresh").props(
                "flat dense no-caps color=primary data-testid=setpoints-refresh")
        if found is None:
            with ui.card().classes("tv-card q-pa-md w-full"):
                ui.label("The setpoint loop service is not running on this server.").classes("tv-muted").props(
                    "data-testid=setpoints-unavailable")
            return None
        service = found
        if not can_disable:
            ui.label(f"Read-only: the {role} role cannot change a loop's autonomy; disabling it needs operator, "
                     "enabling it engineer.").classes("tv-muted").props("data-testid=setpoints-read-only")
        load_error = ui.label("").classes("text-negative").props("data-testid=setpoints-error")
        cards = ui.column().classes("w-full gap-4").props("data-testid=setpoint-loops")
        with ui.card().classes("tv-card q-pa-md w-full"):
            with ui.row().classes("items-end w-full gap-4"):
                ui.label("Proposals, newest first").classes("tv-section")
                ui.space()
                loop_select = ui.select([], label="Loop").props(
                    "dense outlined data-testid=setpoints-loop").style("width: 240px")
            table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 0}).props(
                "flat dense wrap-cells data-testid=setpoints-proposals").classes("w-full")
            for slot, template in (("at", AT_SLOT), ("decision", DECISION_SLOT), ("confident", CONFIDENT_SLOT),
                                   ("reasons", REASONS_SLOT)):
                table.add_slot(f"body-cell-{slot}", template)
            table.add_slot("no-data", '<div class="tv-muted q-pa-md" data-testid="setpoints-proposals-empty">No '
                                      "proposal yet.</div>")
            with ui.row().classes("items-center w-full gap-2"):
                newest_button = ui.button("Newest", icon="first_page").props(
                    "flat dense no-caps data-testid=setpoints-newest")
                older_button = ui.button("Older", icon="chevron_right").props(
                    "flat dense no-caps data-testid=setpoints-older")
                span_label = ui.label("").classes("tv-muted").props("data-testid=setpoints-range")

    # what is shown: the loops (to skip redrawing unchanged cards), the selected loop and its page cursors
    shown: dict[str, Any] = {"loops": None, "older": None}
    selected: dict[str, str | None] = {"name": loop}
    pages: list[tuple[datetime, str] | None] = [None]

    def say(message: str, kind: Literal["positive", "negative", "warning"]) -> None:
        # In the page's own context: a refresh from the bus has none, and a card's button may be redrawn away
        # while its handler waits for the dialog.
        with root:
            ui.notify(message, type=kind, multi_line=True)

    def notify_problem(exc: TvillingError) -> None:
        say(problem(exc), "negative")

    def draw(loops: list[dict[str, Any]]) -> None:
        cards.clear()
        with cards:
            if not loops:
                with ui.card().classes("tv-card q-pa-md w-full"):
                    ui.label("No setpoint loops: write a setpoints.yaml beside the site's mappings.yaml "
                             "(docs/setpoints.md) and restart.").classes("tv-muted").props(
                        "data-testid=setpoints-none")
            for item in loops:
                loop_card(item)

    def loop_card(item: dict[str, Any]) -> None:
        name, twin, mode = str(item["name"]), str(item["twin"]), str(item["mode"])
        autonomy = item.get("autonomy") or {}
        with ui.card().classes("tv-card q-pa-md w-full").props(f"data-testid=loop-{name}"):
            with ui.row().classes("items-center w-full gap-3"):
                ui.icon("thermostat", size="22px").classes("text-primary")
                ui.label(name).classes("tv-title").props(f"data-testid=loop-name-{name}")
                ui.link(twin, shell.url(f"/twin/{quote(twin, safe='')}")).props(f"data-testid=loop-twin-{name}")
                ui.badge(mode, color={"auto": "accent", "approve": "warning"}.get(mode, "grey-7")).props(
                    f"outline data-testid=loop-mode-{name}")
                ui.space()
                ui.button("Proposals", icon="list", on_click=lambda n=name: select(n)).props(
                    f"flat dense no-caps color=primary data-testid=loop-show-{name}")
                if mode == "auto" and not autonomy.get("enabled") and can_enable:
                    ui.button("Enable autonomy", icon="play_arrow", on_click=lambda n=name: enable(n)).props(
                        f"unelevated dense no-caps color=positive data-testid=loop-enable-{name}")
                if mode == "auto" and autonomy.get("enabled") and can_disable:
                    ui.button("Disable", icon="pause", on_click=lambda n=name: disable(n)).props(
                        f"unelevated dense no-caps color=negative data-testid=loop-disable-{name}")
            with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 items-baseline"):
                ui.label("Band").classes("tv-muted")
                ui.label(band_text(item)).props(f"data-testid=loop-band-{name}")
                ui.label("Mode").classes("tv-muted")
                ui.label(MODE_TEXT.get(mode, mode) + (f"; a decision every {item['periodS'] / 60:g} min of the "
                                                      "zone's time" if item.get("periodS") else ""))
                if mode == "auto" and isinstance(item.get("leaseS"), int | float):
                    ui.label("Lease").classes("tv-muted")
                    ui.label(f"{item['leaseS']:g} s: the device falls back to its own setpoints when autonomy goes "
                             "off or the server stops renewing").props(f"data-testid=loop-lease-{name}")
                ui.label("Autonomy").classes("tv-muted")
                text, color = autonomy_text(item)
                ui.label(text).classes(f"text-weight-medium text-{color}").props(f"data-testid=loop-autonomy-{name}")
            last = item.get("last")
            ui.separator()
            if last is None:
                ui.label("No decision yet: the loop decides once per period when the twin reports.").classes(
                    "tv-muted").props(f"data-testid=loop-last-{name}")
                return
            last_decision(name, last)

    def last_decision(name: str, p: dict[str, Any]) -> None:
        decision = str(p.get("decision") or "–")
        with ui.row().classes("items-center w-full gap-3").props(f"data-testid=loop-last-{name}"):
            ui.label("Last decision").classes("tv-section")
            ui.badge(decision, color=DECISION_COLORS.get(decision, "grey")).props(
                f"data-testid=loop-decision-{name}")
            ui.label(f"zone time {stamp(p.get('at'))} UTC").classes("tv-muted")
        moves, conf = setpoint_moves(p), confidence_parts(p.get("confidence"))
        with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 items-baseline"):
            if p.get("current") or p.get("proposed"):
                ui.label("Heating setpoint").classes("tv-muted")
                ui.label(moves["heating"]).props(f"data-testid=loop-heating-{name}")
                ui.label("Cooling setpoint").classes("tv-muted")
                ui.label(moves["cooling"]).props(f"data-testid=loop-cooling-{name}")
            if p.get("proposed"):
                ui.label("Predicted energy").classes("tv-muted")
                ui.label(energy_text(p)).props(f"data-testid=loop-energy-{name}")
                ui.label("Saving").classes("tv-muted")
                ui.label(saving_text(p.get("savingKwh"))).classes("text-weight-medium").props(
                    f"data-testid=loop-saving-{name}")
            if conf:
                ui.label("Confidence").classes("tv-muted")
                with ui.column().classes("gap-0").props(f"data-testid=loop-confidence-{name}"):
                    ui.label(conf["verdict"]).classes("text-weight-medium " + (
                        "text-positive" if conf["verdict"] == "confident" else "text-negative"))
                    ui.label(f"energy error on the held-out day: {conf['energyError']}").classes("tv-muted")
                    ui.label(f"outdoor forecast: {conf['outdoor']}").classes("tv-muted")
            reasons = [str(r) for r in p.get("reasons") or []]
            if reasons:
                ui.label("Reasons").classes("tv-muted")
                with ui.column().classes("gap-0").props(f"data-testid=loop-reasons-{name}"):
                    for reason in reasons:
                        ui.label(reason)
            commands = command_rows(p)
            if commands:
                ui.label("Commands").classes("tv-muted")
                with ui.column().classes("gap-1").props(f"data-testid=loop-commands-{name}"):
                    for c in commands:
                        with ui.row().classes("items-center gap-2"):
                            ui.label(f"{c['command']} = {c['value']}").classes("text-mono")
                            ui.badge(c["state"], color=c["color"]).props(
                                f"outline data-testid=loop-command-{name}-{c['command']}")
                            if c["reason"]:
                                ui.label(c["reason"]).classes("tv-muted")

    def read_loops() -> list[dict[str, Any]]:
        loops = service.list_loops(tenant)
        commands = getattr(dash.app_state, "commands", None)
        if commands is None:
            return loops
        for item in loops:  # the last decision's commands as they are now (acked, failed, approved …)
            last, states = item.get("last"), {}
            for c in (last or {}).get("commands") or []:
                # a command gone (retention) keeps the state stored with the decision
                with contextlib.suppress(TvillingError):
                    if c.get("id"):
                        states[str(c["id"])] = commands.get(tenant, str(c["id"])).state.value
            if last and states:
                item["last"] = with_states(last, states)
        return loops

    async def refresh_loops() -> None:
        try:
            loops = await asyncio.to_thread(read_loops)
        except TvillingError as exc:
            load_error.text = problem(exc)
            notify_problem(exc)
            return
        load_error.text = ""
        names = [str(item["name"]) for item in loops]
        if selected["name"] not in names:
            selected["name"] = names[0] if names else None
        if loop_select.options != names:
            loop_select.set_options(names, value=selected["name"])
        if loops != shown["loops"]:
            shown["loops"] = loops
            draw(loops)
        refreshed.text = "updated " + dash.services.clock.now().strftime("%H:%M:%S") + " UTC"

    async def refresh_proposals() -> None:
        name = selected["name"]
        if name is None:
            table.rows = []
            table.props(remove="hide-bottom")
            table.update()
            older_button.set_enabled(False)
            newest_button.set_enabled(False)
            span_label.text = ""
            return
        try:
            items = await asyncio.to_thread(lambda: service.proposals(tenant, name, limit=PAGE_SIZE,
                                                                      before=pages[-1]))
        except TvillingError as exc:
            load_error.text = problem(exc)
            notify_problem(exc)
            return
        table.rows = [proposal_row(p) for p in items]
        if items:  # Quasar hides the no-data message with the bottom bar: hide it only when there are rows
            table.props("hide-bottom")
        else:
            table.props(remove="hide-bottom")
        table.update()
        shown["older"] = next_before(items, PAGE_SIZE)
        older_button.set_enabled(shown["older"] is not None)
        newest_button.set_enabled(len(pages) > 1)
        span_label.text = (f"{name}: {len(items)} proposal(s)" if items else "") + (
            f" · page {len(pages)}" if len(pages) > 1 else "")

    async def refresh() -> None:
        # From the buttons and from the bus (no client context there: notify_problem enters the page's own).
        # Proposals are never changed once stored, so re-reading an older page keeps it where the reader is.
        await refresh_loops()
        await refresh_proposals()

    kick = shell.Refresher(refresh)

    def select(name: str) -> None:
        if loop_select.value != name:
            loop_select.value = name  # its change handler goes back to the newest proposals

    def on_select(e: Any) -> None:
        selected["name"] = str(e.value) if e.value else None
        del pages[1:]
        kick()

    def newest(*_: Any) -> None:
        del pages[1:]
        kick()

    def older() -> None:
        if shown["older"] is not None:
            pages.append(shown["older"])
            kick()

    # -- enable / disable -----------------------------------------------------------------------------------
    with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 480px").props(
            "data-testid=setpoint-dialog"):
        dialog_text = ui.label("").props("data-testid=setpoint-dialog-text")
        reason_input = ui.input("Reason").props(
            "dense outlined maxlength=1000 data-testid=setpoint-reason").classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Back", on_click=dialog.close).props("flat data-testid=setpoint-cancel")
            confirm = ui.button("Confirm", on_click=lambda: dialog.submit(True)).props(
                "unelevated data-testid=setpoint-confirm")

    async def enable(name: str) -> None:
        if not session.can(Role.ENGINEER):  # checked here, whatever the browser shows
            say(f"the {role} role cannot enable a loop's autonomy; it needs engineer", "negative")
            return
        item = next((i for i in shown["loops"] or [] if i["name"] == name), None)
        twin = item["twin"] if item else "its twin"
        dialog_text.text = (f"Enable autonomy for {name}? The loop then sends setpoint commands to {twin} by "
                            "itself whenever the model is confident (otherwise they wait for an approval), until "
                            "someone disables it, a guard refuses a command or the platform restarts.")
        reason_input.set_visibility(False)
        confirm.text = "Enable autonomy"
        confirm.props("color=positive")
        if not await dialog:
            return
        try:
            await asyncio.to_thread(service.enable, tenant, name, actor)
        except TvillingError as exc:
            notify_problem(exc)
            kick()
            return
        say(f"Autonomy of {name} enabled", "positive")
        kick()

    async def disable(name: str) -> None:
        if not session.can(Role.OPERATOR):
            say(f"the {role} role cannot disable a loop's autonomy; it needs operator", "negative")
            return
        dialog_text.text = (f"Disable autonomy for {name}? It goes on proposing and sends nothing by itself "
                            "until an engineer enables it again.")
        reason_input.value = ""
        reason_input.set_visibility(True)
        confirm.text = "Disable"
        confirm.props("color=negative")
        if not await dialog:
            return
        try:
            await asyncio.to_thread(service.disable, tenant, name, actor, (reason_input.value or "").strip())
        except TvillingError as exc:
            notify_problem(exc)
            kick()
            return
        say(f"Autonomy of {name} disabled", "warning")
        kick()

    refresh_button.on_click(kick)
    newest_button.on_click(newest)
    older_button.on_click(older)
    await refresh()
    loop_select.on_value_change(on_select)  # after the first refresh, which fills it
    shell.follow(session, ["setpoint"], kick)  # setpoint.proposed / enabled / disabled / suspended

    def on_change(ids: set[str], kinds: set[str]) -> None:
        # command.* on a loop's twin: the last decision's commands may have moved (sent → acked)
        if "commands" in kinds and ids & {str(i["twin"]) for i in shown["loops"] or []}:
            kick()

    shell.watch(session, on_change)
    return None
