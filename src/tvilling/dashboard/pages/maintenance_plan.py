"""Maintenance plan: when to do each maintenance task of ``planning.yaml`` so that the site's expected cost is
lowest (docs/maintenance-planning.md), for the operations manager. The plan's start, horizon, solver status and
expected cost (risk, preventive, planned stops); a timeline with one row per task (its day coloured by P(failure
before), its cheapest other days, the line stops, the days without crew or production); the planned tasks with
their cost, shared stop, other days and live work order; what could not be planned and why; crew hours per day.
Below it, the twins' failure risk ranked by expected cost (``twin_impact.risk_panel``, from ``impact.yaml``).

The plan is the platform's one :class:`~tvilling.app.maintenance_planning.MaintenancePlanner`'s live plan (the
one behind ``GET /api/v1/maintenance/plan``): every role may see it and re-plan, as through the API. Planning runs
the solver (up to its time limit): always off the event loop, one run at a time per page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from nicegui import events, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.maintenance_planning import maintenance_planner
from tvilling.app.work_orders import work_order_service
from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell
from tvilling.dashboard.pages import maintenance_plan_view as view
from tvilling.dashboard.pages.twin_impact import risk_panel

DOCS = "docs/maintenance-planning.md"
# A raw anchor: ui.link would put the dashboard's /ui prefix before the API's path.
API_DOCS = ('<a href="/api/v1/docs#/maintenance%20planning" target="_blank" class="nicegui-link">'
            "API reference</a>")
COLUMNS: list[dict[str, Any]] = [
    {"name": "date", "label": "Date (UTC)", "field": "daySort", "align": "left", "sortable": True},
    {"name": "title", "label": "Task", "field": "title", "align": "left", "sortable": True},
    {"name": "asset", "label": "Asset", "field": "asset", "align": "left", "sortable": True},
    {"name": "line", "label": "Line", "field": "line", "align": "left", "sortable": True},
    {"name": "p", "label": "P(failure before)", "field": "pSort", "align": "right", "sortable": True},
    {"name": "cost", "label": "Expected cost", "field": "costSort", "align": "right", "sortable": True},
    {"name": "shared", "label": "Shares its stop with", "field": "shared", "align": "left"},
    {"name": "alternatives", "label": "Cheapest other days", "field": "alternatives", "align": "left"},
    {"name": "workOrder", "label": "Live work order on the twin", "field": "woId", "align": "left"},
]
DATE_SLOT = r'''
<q-td :props="props" style="white-space:nowrap">
  <span :data-testid="'plan-date-' + props.row.task">{{ props.row.date }}</span>
  <span class="tv-muted q-ml-xs">{{ props.row.weekday }}</span></q-td>'''
TITLE_SLOT = r'''
<q-td :props="props"><div :data-testid="'plan-task-' + props.row.task">{{ props.row.title }}</div></q-td>'''
ASSET_SLOT = r'''
<q-td :props="props" style="white-space:nowrap"><a :href="'%s' + encodeURIComponent(props.row.asset)"
  style="color:#1f4e79;font-weight:600;text-decoration:none">{{ props.row.asset }}</a></q-td>'''
P_SLOT = r'''
<q-td :props="props"><span :data-testid="'plan-p-' + props.row.task">{{ props.row.p }}</span>
  <q-badge v-if="props.row.overRisk" color="negative" class="q-ml-xs" label="over the risk limit" />
  <div class="tv-muted">{{ props.row.basis }}</div></q-td>'''
COST_SLOT = r'''
<q-td :props="props"><div>{{ props.row.cost }}</div><div class="tv-muted">{{ props.row.costHint }}</div></q-td>'''
ALTERNATIVES_SLOT = r'''
<q-td :props="props" style="white-space:nowrap"><div v-for="a in props.row.alternatives" :key="a">{{ a }}</div>
  <span v-if="!props.row.alternatives.length" class="tv-muted">–</span></q-td>'''
WORK_ORDER_SLOT = r'''
<q-td :props="props"><template v-if="props.row.woId"><q-badge outline :label="props.row.woState"
  :color="props.row.woState === 'open' ? 'primary' : 'warning'" :data-testid="'plan-wo-' + props.row.task" />
  <a href="%s" class="q-ml-xs" style="color:#1f4e79;text-decoration:none">{{ props.row.woTitle }}</a></template>
  <q-btn v-else-if="props.row.canCreate" dense flat no-caps size="sm" color="primary" icon="add_task"
    label="Create work order" :data-testid="'plan-create-wo-' + props.row.task"
    @click="() => $parent.$emit('create', props.row.task)" />
  <span v-else class="tv-muted">none</span></q-td>'''
NOT_PLANNED_COLUMNS: list[dict[str, Any]] = [
    {"name": "task", "label": "Task", "field": "task", "align": "left"},
    {"name": "asset", "label": "Asset", "field": "asset", "align": "left"},
    {"name": "reason", "label": "Why not", "field": "reason", "align": "left"},
]


def empty_state(hint: str) -> None:
    with ui.card().classes("tv-card q-pa-lg w-full items-center").props("data-testid=plan-empty"):
        ui.icon("event_busy", size="48px").classes("text-grey-6")
        ui.label("No maintenance plan for this site").classes("tv-title")
        ui.label(hint[:1].upper() + hint[1:]).classes("tv-muted").props("data-testid=plan-hint")
        with ui.row().classes("items-baseline gap-2"):
            ui.label("The file's format:").classes("tv-muted")
            ui.label(DOCS).classes("text-mono").props("data-testid=plan-docs")
            ui.html(API_DOCS, sanitize=False).classes("q-ml-md")


def render_plan(result: dict[str, Any], calendar: view.Calendar | None,
                on_create: Callable[[events.GenericEventArguments], Awaitable[None]] | None) -> None:
    """The plan; ``on_create`` (operators and above) offers a work order due on the planned day for each task
    without a live one."""
    plan = result["plan"]
    with ui.row().classes("w-full gap-4"):
        for key, label in (("total", f"Expected cost, {plan['days']} days"), ("risk", "Risk of failure"),
                           ("preventive", "Preventive work"), ("stops", "Planned stops"), ("tasks", "Tasks planned")):
            shell.kpi(label, view.kpis(result)[key], mark=f"plan-kpi-{key}")
    with ui.card().classes("tv-card q-pa-md w-full"):
        ui.label("Plan").classes("tv-section")
        with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 items-baseline"):
            for label, text, mark in view.summary(result):
                ui.label(label).classes("tv-muted")
                ui.label(text).props(f"data-testid={mark}")
        for problem in plan.get("violations") or []:
            ui.label(problem).classes("text-negative").props("data-testid=plan-violation")
    with ui.card().classes("tv-card q-pa-md w-full"):
        ui.label("Timeline").classes("tv-section")
        ui.echart(view.timeline_options(plan, calendar)).classes("w-full").style(
            f"height: {view.timeline_height(plan)}px").props("data-testid=plan-timeline")
    with ui.card().classes("tv-card q-pa-md w-full"):
        ui.label("Planned tasks").classes("tv-section")
        rows = view.task_rows(result)
        for row in rows:
            row["canCreate"] = on_create is not None and not row["woId"] and row["daySort"] < view.LATER_SORT
        table = ui.table(columns=COLUMNS, rows=rows, row_key="key",
                         pagination={"rowsPerPage": 25, "sortBy": "date"}).props(
            "flat dense wrap-cells data-testid=plan-table").classes("w-full")
        for slot, template in (("date", DATE_SLOT), ("title", TITLE_SLOT), ("asset", ASSET_SLOT % shell.href("/twin/")),
                               ("p", P_SLOT), ("cost", COST_SLOT), ("alternatives", ALTERNATIVES_SLOT),
                               ("workOrder", WORK_ORDER_SLOT % shell.href("/maintenance"))):
            table.add_slot(f"body-cell-{slot}", template)
        if on_create is not None:
            table.on("create", on_create)
        ui.label("Expected cost: the task's risk of failing first plus its preventive cost; its share of a line "
                 "stop is in the plan's planned-stop cost. Other days: the plan's total with the task moved there."
                 ).classes("tv-muted")
    with ui.row().classes("w-full gap-4 no-wrap items-stretch"):
        with ui.card().classes("tv-card q-pa-md").style("flex: 2"):
            ui.label("Crew hours per day").classes("tv-section")
            ui.echart(view.crew_options(plan, calendar)).classes("w-full").style("height: 220px").props(
                "data-testid=plan-crew")
        not_planned_card(result).style("flex: 1")


def not_planned_card(result: dict[str, Any]) -> ui.card:
    with ui.card().classes("tv-card q-pa-md").props("data-testid=plan-not-planned") as card:
        ui.label("Not planned").classes("tv-section")
        rows = view.not_planned_rows(result)
        if rows:
            ui.table(columns=NOT_PLANNED_COLUMNS, rows=rows, row_key="key").props(
                "flat dense wrap-cells hide-bottom data-testid=plan-not-planned-table").classes("w-full")
        else:
            ui.label("Every task has a failure curve: all are in the plan.").classes("tv-muted")
    return card


@ui.page("/maintenance/plan", title="Tvilling · maintenance plan")
async def maintenance_plan_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/maintenance/plan", "Maintenance plan")
    dash, tenant = session.dash, session.tenant
    busy = {"now": False}
    latest: dict[str, Any] = {}  # the plan on screen, for the work-order button
    assets: set[str] = set()  # the plan's twins: a new estimate on one of them makes the plan stale

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.row().classes("items-center w-full gap-4"):
            ui.label("Maintenance plan").classes("tv-title")
            ui.label("The cheapest day for each task, given the twins' latest RUL estimates.").classes("tv-muted")
            ui.space()
            stale = ui.label("").classes("text-warning text-weight-medium").props("data-testid=plan-stale")
            planned_at = ui.label("").classes("tv-muted").props("data-testid=plan-planned-at")
            replan = ui.button("Re-plan", icon="refresh").props("unelevated color=primary data-testid=plan-replan")
        body = ui.column().classes("w-full gap-4")
        reload_risks = risk_panel(session)  # "Failure risk by cost": loads itself, again on Re-plan

    def compute() -> tuple[dict[str, Any], view.Calendar | None]:
        planner = maintenance_planner(dash.app_state, dash.services)
        result = planner.live_plan(tenant)
        plan = result.get("plan")
        return result, view.calendar_days(plan) if plan else None

    async def refresh() -> None:
        if busy["now"]:
            return
        busy["now"] = True
        replan.props("loading")
        body.clear()
        with body, ui.row().classes("items-center gap-2").props("data-testid=plan-loading"):
            ui.spinner(size="md")
            ui.label("Planning…").classes("tv-muted")
        try:
            result, calendar = await asyncio.to_thread(compute)
        except TvillingError as exc:  # no schedule fits, or a broken planning file
            body.clear()
            with body, ui.card().classes("tv-card q-pa-md w-full").props("data-testid=plan-error"):
                ui.label("No plan").classes("tv-section")
                ui.label(exc.message).classes("text-negative")
                if exc.hint:
                    ui.label(exc.hint).classes("tv-muted")
            return
        finally:
            busy["now"] = False
            replan.props(remove="loading")
        body.clear()
        stale.text = ""
        planned_at.text = "planned at " + dash.services.clock.now().strftime("%H:%M:%S") + " UTC"
        assets.clear()
        assets.update(t["asset"] for t in (result.get("plan") or {}).get("tasks", []))
        assets.update(n["asset"] for n in result.get("notPlanned") or [])
        with body:
            if not result.get("configured"):
                empty_state(str(result.get("hint") or ""))
            elif result.get("plan") is None:
                ui.label("No task could be planned.").classes("tv-muted").props("data-testid=plan-none")
                not_planned_card(result).classes("w-full")
            else:
                render_plan(result, calendar, create_order if session.can(Role.OPERATOR) else None)
        latest["result"] = result

    async def create_order(e: events.GenericEventArguments) -> None:
        """A work order for a planned task, due at the start of its day (the person is the approval)."""
        plan = (latest.get("result") or {}).get("plan") or {}
        task = next((t for t in plan.get("tasks", []) if t["task"] == str(e.args)), None)
        if task is None or task["date"] is None:
            ui.notify("That task is no longer in the plan: re-plan.", type="warning")
            return
        due = datetime.fromisoformat(task["date"]).replace(tzinfo=UTC)
        service = work_order_service(dash.app_state, dash.services)
        try:  # the service checks the role itself
            order = await asyncio.to_thread(
                service.create, tenant, task["asset"], task["title"] or task["task"], role=session.principal.role,
                actor=session.principal.actor, priority="high" if task["overRisk"] else "medium", due=due,
                description=view.order_description(task))
        except TvillingError as exc:
            ui.notify(exc.message + (f" ({exc.hint})" if exc.hint else ""), type="negative")
            return
        ui.notify(f"Work order created on {order.twin_id}, due {task['date']}", type="positive")
        await refresh()

    def on_change(ids: set[str], kinds: set[str]) -> None:
        if "workorders" in kinds or ("insights" in kinds and ids & assets):
            stale.text = "Estimates or work orders changed since this plan: re-plan to update it."

    replan.on_click(refresh)
    replan.on_click(reload_risks)
    ui.timer(0, refresh, once=True)  # after the page is shown: planning runs the solver
    shell.watch(session, on_change)
    return None
