"""Twin detail: live properties (value, unit, quality, age), desired vs reported, history with zoom and bucketed
aggregation, anomaly score and RUL insights, commands (``commands_panel``), configuration and related twins, and
"If this stops" (``twin_impact``) and "Why did it change?" (``twin_explain``)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from nicegui import background_tasks, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.core.errors import TvillingError
from tvilling.dashboard import history, shell, twinview
from tvilling.dashboard.commands_panel import commands_panel
from tvilling.dashboard.live import TwinState, age_s
from tvilling.dashboard.pages.twin_explain import explain_panel
from tvilling.dashboard.pages.twin_impact import impact_panel

PROP_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Property", "field": "name", "align": "left", "sortable": True},
    {"name": "value", "label": "Value", "field": "value", "align": "right"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "quality", "label": "Quality", "field": "quality", "align": "left", "sortable": True},
    {"name": "age", "label": "Age", "field": "age", "align": "right"},
]
VALUE_SLOT = r'''<q-td :props="props"><span :data-testid="'value-' + props.row.name"
  style="font-variant-numeric: tabular-nums; font-weight: 600">{{ props.row.value }}</span></q-td>'''
QUALITY_SLOT = r'''<q-td :props="props"><q-badge outline
  :color="{good:'positive', uncertain:'warning', bad:'negative'}[props.row.quality] || 'grey'"
  :label="props.row.quality + (props.row.reason ? ' · ' + props.row.reason : '')" /></q-td>'''
PAIR_COLUMNS: list[dict[str, Any]] = [
    {"name": "reported", "label": "Reported", "field": "reported", "align": "left"},
    {"name": "rvalue", "label": "Value", "field": "rvalue", "align": "right"},
    {"name": "desired", "label": "Desired", "field": "desired", "align": "left"},
    {"name": "dvalue", "label": "Value", "field": "dvalue", "align": "right"},
    {"name": "deviation", "label": "Deviation", "field": "deviation", "align": "right"},
]


def prop_rows(twin: TwinState) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for name in sorted(twin.props):
        p = twin.props[name]
        age = age_s(p.received or p.source_time, now)
        rows.append({"name": name, "value": shell.fmt(p.value), "unit": p.unit or "",
                     "quality": p.quality or "good", "reason": p.reason or "",
                     "age": "–" if age is None else f"{max(age, 0):.1f} s"})
    return rows


def pair_rows(twin: TwinState) -> list[dict[str, Any]]:
    rows = []
    for desired, reported in twinview.desired_pairs(twin.props):
        d, r = twin.props[desired].value, twin.props[reported].value
        dev = twinview.deviation(d, r)
        rows.append({"reported": reported, "rvalue": shell.fmt(r), "desired": desired, "dvalue": shell.fmt(d),
                     "deviation": "–" if dev is None else f"{dev:+.3g}"})
    return rows


@ui.page("/twin/{twin_id}", title="Tvilling · twin")
async def twin_page(request: Request, twin_id: str, prop: str | None = None) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/explorer", f"Twin {twin_id}")
    dash, tenant = session.dash, session.tenant
    state = await dash.hub.tenant(tenant)
    try:
        doc = await asyncio.to_thread(dash.services.twins.get, tenant, twin_id)
    except TvillingError as exc:
        with ui.card().classes("tv-card q-pa-lg q-ma-md"):
            ui.label(exc.message).classes("tv-title")
            ui.link("Back to the explorer", shell.url("/explorer"))
        return None
    twin = state.twins.get(twin_id)
    if twin is None:
        return None
    outgoing, _ = await asyncio.to_thread(dash.services.relationships.list_outgoing, tenant, twin_id, limit=200)
    incoming, _ = await asyncio.to_thread(dash.services.relationships.list_incoming, tenant, twin_id, limit=200)
    config = {k: v for k, v in doc.items() if not k.startswith("$") and k not in twin.props}
    live_names = sorted(twin.props)

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.card().classes("tv-card q-pa-md w-full"), ui.row().classes("items-center w-full gap-4"):
            with ui.column().classes("gap-0"):
                ui.label(twin_id).classes("tv-title").props("data-testid=twin-title")
                ui.label(twin.model).classes("tv-muted")
            ui.space()
            with ui.column().classes("items-end gap-0"):
                ui.label("Health").classes("tv-kpi-label")
                health_label = ui.html(shell.health_chip_html(dash.hub.asset_health(state, twin_id)), sanitize=False)
            parent = state.parent_of(twin_id)
            if parent:
                with ui.column().classes("items-end gap-0"):
                    ui.label("Part of").classes("tv-kpi-label")
                    ui.link(parent, shell.url(f"/twin/{parent}"))
        with ui.row().classes("w-full no-wrap gap-4 items-start"):
            with ui.column().classes("gap-4").style("flex: 1.25; min-width: 450px"):
                with ui.card().classes("tv-card q-pa-md w-full"):
                    ui.label("Live properties").classes("tv-section")
                    props_table = ui.table(columns=PROP_COLUMNS, rows=prop_rows(twin), row_key="name",
                                           pagination={"rowsPerPage": 0}).props(
                        "flat dense hide-bottom data-testid=live-props").classes("w-full")
                    props_table.add_slot("body-cell-value", VALUE_SLOT)
                    props_table.add_slot("body-cell-quality", QUALITY_SLOT)
                    props_table.add_slot("no-data", '<div class="tv-muted q-pa-sm">No live data yet.</div>')
                pairs = pair_rows(twin)
                pair_table = None
                if pairs:
                    with ui.card().classes("tv-card q-pa-md w-full"):
                        ui.label("Desired vs reported").classes("tv-section")
                        pair_table = ui.table(columns=PAIR_COLUMNS, rows=pairs, row_key="reported").props(
                            "flat dense hide-bottom").classes("w-full")
                with ui.card().classes("tv-card q-pa-md w-full"):
                    ui.label("Insights").classes("tv-section")
                    insight_box = ui.column().classes("w-full gap-1")
            with ui.column().classes("gap-4").style("flex: 2"):
                with ui.card().classes("tv-card q-pa-md w-full"):
                    with ui.row().classes("items-center w-full gap-2 no-wrap"):
                        ui.label("History").classes("tv-section")
                        ui.space()
                        first = prop if prop in live_names else (live_names[0] if live_names else None)
                        prop_select = ui.select(live_names, value=first, label="Property").props(
                            "dense outlined options-dense").style("width: 170px")
                        range_select = ui.select(list(history.RANGES), value="1 h", label="Range").props(
                            "dense outlined options-dense").style("width: 88px")
                        bucket_select = ui.select(["auto", *history.BUCKETS], value="auto", label="Bucket").props(
                            "dense outlined options-dense").style("width: 88px")
                        agg_select = ui.select(list(history.AGGREGATES), value="mean", label="Aggregate").props(
                            "dense outlined options-dense").style("width: 96px")
                    chart = ui.echart(history.chart_options(None, "", None, "mean", False)).classes(
                        "w-full").style("height: 340px").props("data-testid=history-chart")
                    chart_note = ui.label("").classes("tv-muted")
                await commands_panel(session, twin_id, twin.model)  # nothing when the model has no commands
                with ui.row().classes("w-full no-wrap gap-4 items-start"):
                    with ui.card().classes("tv-card q-pa-md").style("flex: 1"):
                        ui.label("Related twins").classes("tv-section")
                        for r in outgoing:
                            with ui.row().classes("items-center gap-2"):
                                ui.label(f"{r['$relationshipName']} →").classes("tv-muted")
                                ui.link(r["$targetId"], shell.url(f"/twin/{r['$targetId']}"))
                        for r in incoming:
                            with ui.row().classes("items-center gap-2"):
                                ui.link(r["$sourceId"], shell.url(f"/twin/{r['$sourceId']}"))
                                ui.label(f"→ {r['$relationshipName']}").classes("tv-muted")
                        if not outgoing and not incoming:
                            ui.label("No relationships").classes("tv-muted")
                    with ui.card().classes("tv-card q-pa-md").style("flex: 1"):
                        ui.label("Configuration").classes("tv-section")
                        for key, value in sorted(config.items()):
                            with ui.row().classes("justify-between w-full"):
                                ui.label(key).classes("tv-muted")
                                ui.label(shell.fmt(value))
                        if not config:
                            ui.label("No configured properties").classes("tv-muted")
        impact_panel(session, twin_id, sorted(state.twins))  # "If this stops" (and with which others)
        explain_panel(session, state, twin_id, prop)  # "Why did it change?"

    def render_insights() -> None:
        insight_box.clear()
        monitoring = getattr(dash.app_state, "monitoring", None)
        snapshot = getattr(monitoring, "snapshot", None)
        live = snapshot(tenant, twin_id) if snapshot is not None else None
        with insight_box:
            if live is not None:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("monitor_heart", color="primary")
                    ui.label("Live anomaly score").classes("text-weight-medium")
                    ui.label(f"{live['score']:.3f}" if live.get("warmed_up") else
                             f"learning normal behaviour ({live.get('readings', 0)} readings)").props(
                        "data-testid=live-score")
            physics = _physics_state(dash.app_state, tenant, twin_id)
            if physics is not None:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("science", color="primary")
                    ui.label("Physics model").classes("text-weight-medium")
                    ui.label(twinview.physics_summary(physics)).props("data-testid=physics-status")
                for line in twinview.physics_outputs(physics):
                    ui.label(line).classes("tv-muted")
            anomaly = twin.insights.get("insight.anomaly")
            if anomaly is not None:
                score, why = twinview.anomaly_summary(anomaly)
                with ui.row().classes("items-center gap-2"):
                    ui.icon("troubleshoot", color="negative")
                    ui.label("Anomaly").classes("text-weight-medium text-negative")
                    ui.label(("–" if score is None else f"score {score:.3f}") +
                             (f" since {str(anomaly['since'])[:19].replace('T', ' ')}" if anomaly.get("since")
                              else ""))
                if why:
                    ui.label(f"Contributing: {why}").classes("tv-muted")
            rul = twin.insights.get("insight.rul")
            if rul is not None:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("hourglass_bottom", color="warning")
                    ui.label("Remaining useful life").classes("text-weight-medium")
                ui.label(twinview.rul_summary(rul)).props("data-testid=rul")
            if live is None and physics is None and anomaly is None and rul is None:
                ui.label("This twin is not monitored (no detector configured for its model).").classes(
                    "tv-muted")
            elif anomaly is None and rul is None:
                ui.label("No open anomaly episode.").classes("tv-muted")

    render_insights()
    shown = {"bucketed": False, "last_reload": 0.0, "insights_at": 0.0}

    async def load_chart() -> None:
        name = prop_select.value
        if not name:
            chart_note.text = "No live properties to chart."
            return
        range_s = history.RANGES[range_select.value]
        bucket_s = history.auto_bucket(range_s) if bucket_select.value == "auto" else history.BUCKETS[
            bucket_select.value]
        # Anchor the window at the newest sample: a simulated or replayed plant has source times far from now.
        latest = twin.props[name].source_time if name in twin.props else None
        anchor = history.parse_time(latest)
        series = await history.load(dash.app_state, tenant, twin_id, name, range_s, bucket_s, agg_select.value,
                                    now=anchor)
        unit = twin.props[name].unit if name in twin.props else None
        chart.options.clear()
        chart.options.update(history.chart_options(series, name, unit, agg_select.value, bool(bucket_s)))
        chart.update()
        shown["bucketed"], shown["last_reload"] = bool(bucket_s), time.monotonic()
        if series is None:
            chart_note.text = "History is not available (ingestion is not running)."
        else:
            kind = f"{agg_select.value} per {bucket_s} s bucket, dashed: min/max" if bucket_s else "raw samples"
            chart_note.text = f"{len(series.points)} points · {kind}" + (" · truncated" if series.truncated else "")

    for control in (prop_select, range_select, bucket_select, agg_select):
        control.on_value_change(load_chart)
    await load_chart()

    def on_change(ids: set[str], kinds: set[str]) -> None:
        members = {twin_id, *state.parts_of(twin_id)}
        if not ids & members:
            return
        props_table.rows = prop_rows(twin)
        props_table.update()
        if pair_table is not None:
            pair_table.rows = pair_rows(twin)
            pair_table.update()
        health_label.content = shell.health_chip_html(dash.hub.asset_health(state, twin_id))
        if "insights" in kinds or (twin_id in ids and time.monotonic() - shown["insights_at"] >= 2.0):
            shown["insights_at"] = time.monotonic()
            render_insights()
        name = prop_select.value
        if name in twin.props and twin_id in ids and "twins" in kinds:
            append_point(name)

    def append_point(name: str) -> None:
        # Raw view: extend the line with the new sample instead of re-reading history (cheap and immediate).
        p = twin.props[name]
        value = p.value if isinstance(p.value, int | float) and not isinstance(p.value, bool) else None
        if shown["bucketed"] or value is None or not p.source_time or not chart.options.get("series"):
            if shown["bucketed"] and time.monotonic() - shown["last_reload"] > 10:
                background_tasks.create(load_chart())  # buckets fill slowly: re-read at most every 10 s
            return
        t_ms = int(datetime.fromisoformat(p.source_time.replace("Z", "+00:00")).timestamp() * 1000)
        data = chart.options["series"][0]["data"]
        if data and data[-1][0] >= t_ms:
            return
        data.append([t_ms, value])
        if len(data) > history.MAX_RAW:
            del data[0]
        chart.update()

    shell.watch(session, on_change)
    return None


def _physics_state(app_state: Any, tenant: str, twin_id: str) -> dict[str, Any] | None:
    """The twin's physics coupling (app/physics_live.py), if one is running."""
    physics = getattr(app_state, "physics", None)
    snapshot = getattr(physics, "snapshot", None)
    return snapshot(tenant, twin_id) if snapshot is not None else None
