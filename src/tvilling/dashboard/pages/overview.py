"""Overview: plant KPIs, active alarms and insights, health per asset."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.dashboard import shell, twinview
from tvilling.dashboard.live import LiveHub, TenantState, age_s

COLUMNS: list[dict[str, Any]] = [
    {"name": "asset", "label": "Asset", "field": "asset", "align": "left", "sortable": True},
    {"name": "model", "label": "Type", "field": "model", "align": "left", "sortable": True},
    {"name": "health", "label": "Health", "field": "health", "align": "left", "sortable": True},
    {"name": "quality", "label": "Data quality", "field": "quality", "align": "left"},
    {"name": "alarms", "label": "Alarms", "field": "alarms", "align": "right", "sortable": True},
    {"name": "age", "label": "Last update", "field": "age", "align": "right"},
]
HEALTH_SLOT = r'''
<q-td :props="props">
  <div class="row items-center no-wrap" style="gap:8px">
    <q-linear-progress :value="(props.row.health ?? 0) / 100" rounded size="8px" style="width:90px"
      :color="props.row.health == null ? 'grey-5' : props.row.health >= 85 ? 'positive'
              : props.row.health >= 60 ? 'warning' : 'negative'" track-color="grey-3" />
    <span style="min-width:28px">{{ props.row.health == null ? '–' : Math.round(props.row.health) }}</span>
  </div>
</q-td>'''
ASSET_SLOT = r'''
<q-td :props="props"><a :href="'/ui/twin/' + encodeURIComponent(props.row.asset)"
  style="color:#1f4e79;font-weight:600;text-decoration:none">{{ props.row.asset }}</a></q-td>'''


def short_model(dtmi: str) -> str:
    return dtmi.rsplit(":", 1)[-1].split(";", 1)[0] if dtmi else ""


def asset_rows(hub: LiveHub, tenant: str, state: TenantState) -> list[dict[str, Any]]:
    open_alarms: dict[str, int] = {}
    for a in hub.alarms.list(tenant):
        open_alarms[a.twin_id] = open_alarms.get(a.twin_id, 0) + 1
    rows = []
    for asset in state.assets():
        twin = state.twins[asset]
        members = [asset, *state.parts_of(asset)]
        props = [p for m in members if m in state.twins for p in state.twins[m].props.values()]
        counts = {q: sum(1 for p in props if (p.quality or "good") == q) for q in ("good", "uncertain", "bad")}
        ages = [a for a in (age_s(p.received or p.source_time) for p in props) if a is not None]
        score = hub.asset_health(state, asset)
        rows.append({"asset": asset, "model": short_model(twin.model),
                     "health": None if score is None else round(score, 1),
                     "quality": f"{counts['good']} good · {counts['uncertain']} uncertain · {counts['bad']} bad",
                     "alarms": sum(open_alarms.get(m, 0) for m in members),
                     "age": f"{min(ages):.0f} s ago" if ages else "–"})
    return rows


def kpis(hub: LiveHub, tenant: str, state: TenantState) -> dict[str, str]:
    props = [p for t in state.twins.values() for p in t.props.values()]
    good = sum(1 for p in props if (p.quality or "good") == "good")
    scores = [s for s in (hub.asset_health(state, a) for a in state.assets()) if s is not None]
    alarms = hub.alarms.list(tenant)
    return {"twins": str(len(state.twins)), "assets": str(len(state.assets())),
            "health": f"{sum(scores) / len(scores):.0f}" if scores else "–",
            "worst": f"{min(scores):.0f}" if scores else "–",
            "quality": f"{100 * good / len(props):.0f} %" if props else "–",
            "alarms": str(sum(1 for a in alarms if a.state == "active"))}


@ui.page("/", title="Tvilling · overview")
async def overview_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/", "Overview")
    hub = session.dash.hub
    state = await hub.tenant(session.tenant)
    values = kpis(hub, session.tenant, state)
    labels: dict[str, ui.label] = {}
    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.row().classes("w-full no-wrap gap-4"):
            for key, label in (("health", "Plant health"), ("worst", "Worst asset"), ("assets", "Assets"),
                               ("twins", "Twins"), ("quality", "Good data"), ("alarms", "Unacknowledged alarms")):
                labels[key] = shell.kpi(label, values[key], mark=f"kpi-{key}")
        with ui.row().classes("w-full no-wrap gap-4 items-start"):
            with ui.card().classes("tv-card q-pa-md").style("flex: 2"):
                ui.label("Health per asset").classes("tv-section")
                table = ui.table(columns=COLUMNS, rows=asset_rows(hub, session.tenant, state), row_key="asset",
                                 pagination={"rowsPerPage": 12, "sortBy": "health"}).props(
                    "flat dense data-testid=asset-table").classes("w-full")
                table.add_slot("body-cell-health", HEALTH_SLOT)
                table.add_slot("body-cell-asset", ASSET_SLOT)
            with ui.column().classes("gap-4").style("flex: 1; min-width: 300px"):
                with ui.card().classes("tv-card q-pa-md w-full"):
                    ui.label("Active alarms").classes("tv-section")
                    alarm_box = ui.column().classes("w-full gap-1")
                with ui.card().classes("tv-card q-pa-md w-full"):
                    ui.label("Insights").classes("tv-section")
                    insight_box = ui.column().classes("w-full gap-1")

    def render_side() -> None:
        alarm_box.clear()
        with alarm_box:
            items = hub.alarms.list(session.tenant)[:6]
            if not items:
                ui.label("No open alarms").classes("tv-muted")
            for a in items:
                with ui.row().classes("items-start no-wrap w-full gap-2"):
                    ui.icon("error" if a.state == "active" else "check_circle", size="20px",
                            color="negative" if a.state == "active" else "grey-6").classes("q-mt-xs")
                    with ui.column().classes("gap-0"):
                        ui.link(a.twin_id, shell.url(f"/twin/{a.twin_id}")).classes("text-weight-medium")
                        ui.label(a.message).classes("tv-muted")
        insight_box.clear()
        with insight_box:
            found = [(tid, k, d) for tid, t in state.twins.items() for k, d in t.insights.items()]
            if not found:
                ui.label("No anomaly or RUL insights yet").classes("tv-muted")
            for tid, kind, data in found[:6]:
                with ui.row().classes("items-center no-wrap"):
                    ui.icon("insights", color="info")
                    ui.link(tid, shell.url(f"/twin/{tid}"))
                    ui.label(insight_text(kind, data)).classes("tv-muted")

    render_side()

    def on_change(_ids: set[str], kinds: set[str]) -> None:
        for key, value in kpis(hub, session.tenant, state).items():
            labels[key].text = value
        table.rows = asset_rows(hub, session.tenant, state)
        table.update()
        if kinds & {"alarms", "insights"}:
            render_side()

    shell.watch(session, on_change)
    return None


def insight_text(kind: str, data: dict[str, Any]) -> str:
    if kind == "insight.rul":
        return "RUL " + twinview.rul_summary(data)
    score, why = twinview.anomaly_summary(data)
    head = "anomaly" + ("" if score is None else f" (score {score:.2f})")
    return f"{head}: {why}" if why else head
