"""Cascade impact on the dashboard: the twin page's "If this stops" card (what else stops or slows, when, along
which relationships, and what an hour of it costs) and the Maintenance plan page's "Failure risk by cost" card
(twins with a live RUL estimate ranked by P(failure) × the cost per hour of their cascade × their repair hours).

The answers are :class:`tvilling.app.impact.ImpactService`'s (``app.state.impact``), the service behind the impact
API; read-only, so every role sees them. They read the twin graph and the event log, so they run off the event loop,
after the page is shown. Without an ``impact.yaml`` (docs/impact.md) each card is one muted line with the service's
message and hint, never a trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from tvilling.app.impact import MAX_ALSO
from tvilling.core.errors import TvillingError, UnavailableError
from tvilling.dashboard import shell
from tvilling.dashboard.pages.maintenance_plan_view import money, pct
from tvilling.dashboard.pages.twin_explain import compact_path, duration
from tvilling.simulation.cascade import path_origin

log = logging.getLogger(__name__)
RISK_ROWS = 10
AFFECTED_COLUMNS: list[dict[str, Any]] = [
    {"name": "twinId", "label": "Twin", "field": "twinId", "align": "left"},
    {"name": "effect", "label": "Effect", "field": "effect", "align": "left"},
    {"name": "after", "label": "After (min)", "field": "after", "align": "right"},
    {"name": "path", "label": "Why", "field": "path", "align": "left"},
    {"name": "cost", "label": "Cost/h", "field": "cost", "align": "right"},
]
RISK_COLUMNS: list[dict[str, Any]] = [
    {"name": "twinId", "label": "Twin", "field": "twinId", "align": "left"},
    {"name": "p", "label": "P(failure)", "field": "p", "align": "right"},
    {"name": "cost", "label": "Cost/h if it stops", "field": "cost", "align": "right"},
    {"name": "repair", "label": "Repair (h)", "field": "repair", "align": "right"},
    {"name": "expected", "label": "Expected cost", "field": "expected", "align": "right"},
    {"name": "stops", "label": "What stops", "field": "stops", "align": "left"},
]
EFFECT_SLOT = r'''
<q-td :props="props"><q-badge outline :color="props.row.effect === 'stops' ? 'negative' : 'warning'"
  :label="props.row.effect" /></q-td>'''
RISK_P_SLOT = r'''
<q-td :props="props"><div>{{ props.row.p }}</div><div class="tv-muted">{{ props.row.within }}</div></q-td>'''


def _service(dash: Any) -> Any:
    service = getattr(dash.app_state, "impact", None)
    if service is None:
        raise UnavailableError("cascade impact is not set up on this server", hint="docs/impact.md")
    return service


def _problem(exc: TvillingError) -> str:
    return exc.message + (f" — {exc.hint}" if exc.hint else "")


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def hours(value: Any) -> str:
    return f"{float(value):g} h" if isinstance(value, int | float) else "–"


def failed_twins(body: dict[str, Any]) -> list[str]:
    """The twin asked about and the ``also`` twins failing with it."""
    return [body["twinId"], *(body.get("also") or [])]


def impact_summary(body: dict[str, Any]) -> str:
    """'If pump-1 stops: line-1 and filler-1 stop (filler-1 after 20 min) — €2,400/h lost; repair 8 h' ('If pump-1
    and pump-2 stop: …' for several)."""
    failed = failed_twins(body)
    affected = body["affected"]
    stops = [a for a in affected if a["effect"] == "stops"]
    slows = [a for a in affected if a["effect"] == "slows"]
    parts = []
    for group, verb in ((stops, "stop" if len(stops) > 1 else "stops"), (slows, "slow" if len(slows) > 1 else "slows")):
        if group:
            later = [f"{a['twinId']} after {duration(a['afterMin'] * 60)}" for a in group if a["afterMin"] > 0]
            parts.append(f"{_names([a['twinId'] for a in group])} {verb}" + (f" ({', '.join(later)})" if later else ""))
    what = "; ".join(parts) if parts else "nothing else stops"
    return (f"If {_names(failed)} {'stops' if len(failed) == 1 else 'stop'}: {what} — "
            f"{money(body['costPerHour'])}/h lost; "
            f"repair {hours(body['repairHours'])}")


def affected_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per affected twin; a k-of-n stop says which other sources had stopped (``with``)."""
    failed = failed_twins(body)
    return [{"twinId": a["twinId"], "effect": a["effect"], "after": f"{a['afterMin']:g}",
             "path": compact_path(path_origin(failed, a["path"]), a["path"]) + (
                 f" (with {', '.join(a['with'])})" if a.get("with") else ""),
             "cost": money(a["costPerHour"])} for a in body["affected"]]


def risk_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"twinId": r["twinId"], "p": pct(r["pFailure"]),
             "within": f"within {hours(r['horizonHours'])}" if r.get("horizonHours") is not None else "",
             "cost": money(r["costPerHour"]), "repair": f"{r['repairHours']:g}", "expected": money(r["expectedCost"]),
             "stops": ", ".join(r["stops"]) or "nothing else"} for r in body["value"]]


def _unavailable(text: str, mark: str) -> None:
    ui.label(text).classes("tv-muted").props(f"data-testid={mark}")


def impact_panel(session: shell.Session, twin_id: str, twins: list[str]) -> None:
    """The "If this stops" card, built in the current container; filled after the page is shown. ``twins``: the
    tenant's twins, offered as others failing at the same time (what redundancy is for: both pumps)."""
    dash, tenant = session.dash, session.tenant
    with ui.card().classes("tv-card q-pa-md w-full").props("data-testid=impact-card"):
        with ui.row().classes("items-center w-full gap-2"):
            ui.label("If this stops").classes("tv-section")
            ui.label("What else stops or slows, when, and what an hour of it costs, by the site's impact rules."
                     ).classes("tv-muted")
        also = ui.select([t for t in twins if t != twin_id], multiple=True, value=[],
                         label="…and at the same time (optional)").props(
            f"dense outlined use-chips use-input clearable max-values={MAX_ALSO} data-testid=impact-also").classes(
            "w-full")
        result = ui.column().classes("w-full gap-2").props("data-testid=impact-result")
        with result, ui.row().classes("items-center gap-2"):
            ui.spinner(size="sm")
            ui.label("Following the relationships…").classes("tv-muted")

    asked = [0]  # the newest question: an older answer arriving after it is dropped

    async def load() -> None:
        asked[0] += 1
        mine, together = asked[0], list(also.value or [])
        try:
            body = await asyncio.to_thread(_service(dash).impact, tenant, twin_id, together)
        except TvillingError as exc:  # no impact.yaml, another tenant's, or the twin is gone
            if mine != asked[0]:
                return
            result.clear()
            with result:
                _unavailable(_problem(exc), "impact-unavailable")
            return
        except Exception:  # the page stays usable whatever goes wrong; the details go to the server log
            log.exception("cascade impact of %s failed", twin_id)
            if mine != asked[0]:
                return
            result.clear()
            with result:
                _unavailable("The impact could not be computed; the server log has the details.", "impact-unavailable")
            return
        if mine != asked[0]:
            return
        result.clear()
        with result:
            ui.label(impact_summary(body)).classes("text-weight-medium").props("data-testid=impact-summary")
            for warning in body.get("warnings") or []:  # a need rule asking more sources than the graph gives
                ui.label(warning).classes("tv-muted").props("data-testid=impact-warning")
            if body["affected"]:
                table = ui.table(columns=AFFECTED_COLUMNS, rows=affected_rows(body), row_key="twinId",
                                 pagination={"rowsPerPage": 0}).props(
                    "flat dense wrap-cells hide-bottom data-testid=impact-affected").classes("w-full")
                table.add_slot("body-cell-twinId", shell.twin_link_slot("impact-twin-"))
                table.add_slot("body-cell-effect", EFFECT_SLOT)

    also.on_value_change(load)
    ui.timer(0, load, once=True)


def risk_panel(session: shell.Session) -> Callable[[], Awaitable[None]]:
    """The "Failure risk by cost" card, built in the current container and filled after the page is shown; returns
    the coroutine function that reloads it."""
    dash, tenant = session.dash, session.tenant
    with ui.card().classes("tv-card q-pa-md w-full").props("data-testid=risk-card"):
        with ui.row().classes("items-center w-full gap-2"):
            ui.label("Failure risk by cost").classes("tv-section")
            ui.label("Twins with a live RUL estimate: P(failure within its horizon) × the cost per hour of what "
                     "stops with it × its repair hours.").classes("tv-muted")
        result = ui.column().classes("w-full gap-2").props("data-testid=risk-result")

    async def load() -> None:
        try:
            body = await asyncio.to_thread(_service(dash).risks, tenant, RISK_ROWS)
        except TvillingError as exc:
            result.clear()
            with result:
                _unavailable(_problem(exc), "risk-unavailable")
            return
        except Exception:
            log.exception("ranking failure risks failed")
            result.clear()
            with result:
                _unavailable("The risks could not be ranked; the server log has the details.", "risk-unavailable")
            return
        result.clear()
        with result:
            rows = risk_rows(body)
            if not rows:
                _unavailable("No twin has a live RUL estimate.", "risk-none")
                return
            table = ui.table(columns=RISK_COLUMNS, rows=rows, row_key="twinId", pagination={"rowsPerPage": 0}).props(
                "flat dense wrap-cells hide-bottom data-testid=risk-table").classes("w-full")
            table.add_slot("body-cell-twinId", shell.twin_link_slot("risk-twin-"))
            table.add_slot("body-cell-p", RISK_P_SLOT)
            if body["count"] > len(rows):
                ui.label(f"The {len(rows)} costliest of {body['count']}.").classes("tv-muted")

    ui.timer(0, load, once=True)
    return load
