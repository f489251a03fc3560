"""Twin explorer: search with the ADT query language, filter by model, and the relationship graph."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import background_tasks, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.core.errors import TvillingError
from tvilling.dashboard import health, shell
from tvilling.dashboard.live import LiveHub, TenantState
from tvilling.dashboard.pages.overview import short_model

DEFAULT_QUERY = "SELECT * FROM DIGITALTWINS"
MAX_RESULTS = 500
EDGE_COLORS = {"contains": "#9aa5b1", "hasPart": "#b8c2cc", "feeds": "#3b7dd8", "drives": "#8a63d2",
               "cools": "#20a4b8", "locatedIn": "#d0d6dd"}
COLUMNS = [
    {"name": "id", "label": "Twin", "field": "id", "align": "left", "sortable": True},
    {"name": "model", "label": "Model", "field": "model", "align": "left", "sortable": True},
    {"name": "health", "label": "Health", "field": "health", "align": "right", "sortable": True},
]
ID_SLOT = r'''<q-td :props="props"><a :href="'/ui/twin/' + encodeURIComponent(props.row.id)"
  style="color:#1f4e79;font-weight:600;text-decoration:none">{{ props.row.id }}</a></q-td>'''


def model_query(model: str | None) -> str:
    if not model:
        return DEFAULT_QUERY
    return f"SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{model}')"


def graph_options(state: TenantState, ids: list[str], hub: LiveHub) -> dict[str, Any]:
    shown = set(ids)
    # Colour is health, so no model legend (its swatches would contradict the node colours); size marks parts.
    models = sorted({short_model(state.twins[i].model) for i in ids if i in state.twins})
    nodes = []
    for i in ids:
        twin = state.twins.get(i)
        if twin is None:
            continue
        score = hub.asset_health(state, i)
        nodes.append({"id": i, "name": i, "category": models.index(short_model(twin.model)),
                      "symbolSize": 26 if not state.parent_of(i) else 14,
                      "itemStyle": {"color": health.color(score), "borderColor": "#fff", "borderWidth": 1.5},
                      "value": None if score is None else round(score)})
    links = [{"source": s, "target": t, "value": n, "lineStyle": {"color": EDGE_COLORS.get(n, "#c5ccd4")}}
             for s, n, t in state.edges if s in shown and t in shown]
    return {
        "tooltip": {"formatter": "{b}: health {c}"},
        "animationDurationUpdate": 300,
        "series": [{
            "type": "graph", "layout": "force", "roam": True, "draggable": True, "data": nodes, "links": links,
            "categories": [{"name": m} for m in models],
            "label": {"show": True, "position": "right", "fontSize": 11, "color": "#34475a"},
            "edgeLabel": {"show": len(links) <= 40, "formatter": "{c}", "fontSize": 9, "color": "#8896a5"},
            "edgeSymbol": ["none", "arrow"], "edgeSymbolSize": 6,
            "force": {"repulsion": 220, "edgeLength": [50, 110], "gravity": 0.08},
            "lineStyle": {"width": 1.3, "curveness": 0.08}, "emphasis": {"focus": "adjacency"},
        }],
    }


@ui.page("/explorer", title="Tvilling · twin explorer")
async def explorer_page(request: Request, q: str | None = None) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/explorer", "Twin explorer")
    hub = session.dash.hub
    state = await hub.tenant(session.tenant)
    models, _ = await asyncio.to_thread(session.dash.services.models.list, session.tenant, limit=1000)
    shown: list[str] = []
    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.card().classes("tv-card q-pa-md w-full"), ui.row().classes("items-center w-full no-wrap gap-3"):
            model_select = ui.select({"": "All models", **{m["id"]: short_model(m["id"]) for m in models}},
                                     value="", label="Model").props("dense outlined").style("width: 180px")
            query = ui.input("Query (ADT query language)", value=q or DEFAULT_QUERY).props(
                "dense outlined clearable data-testid=query").classes("col-grow").style("font-family: monospace")
            run_button = ui.button("Run", icon="search").props("unelevated color=primary data-testid=run-query")
        message = ui.label("").classes("tv-muted").props("data-testid=query-message")
        with ui.row().classes("w-full no-wrap gap-4 items-stretch"):
            with ui.card().classes("tv-card q-pa-md").style("flex: 1; min-width: 340px"):
                ui.label("Twins").classes("tv-section")
                table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 14}).props(
                    "flat dense data-testid=twin-results").classes("w-full")
                table.add_slot("body-cell-id", ID_SLOT)
            with ui.card().classes("tv-card q-pa-md").style("flex: 2"):
                with ui.row().classes("items-center w-full"):
                    ui.label("Relationship graph").classes("tv-section")
                    ui.space()
                    ui.label("drag to move · scroll to zoom · click a twin to open it").classes("tv-muted")
                chart = ui.echart(graph_options(state, [], hub)).classes("w-full").style("height: 560px")

    def rows() -> list[dict[str, Any]]:
        out = []
        for i in shown:
            twin = state.twins.get(i)
            score = hub.asset_health(state, i)
            out.append({"id": i, "model": short_model(twin.model) if twin else "",
                        "health": None if score is None else round(score)})
        return out

    async def run() -> None:
        text = (query.value or DEFAULT_QUERY).strip()
        try:
            result = await asyncio.to_thread(session.dash.services.query.run, session.tenant, text,
                                             page_size=MAX_RESULTS, continuation=None)
        except TvillingError as exc:
            message.text = f"Query error: {exc}"
            message.classes(replace="text-negative text-caption")
            return
        ids = []
        for item in result.items:
            found = item.get("$dtId") if isinstance(item, dict) else None
            if found is None and isinstance(item, dict):  # SELECT T FROM … returns {"T": {…}}
                found = next((v.get("$dtId") for v in item.values() if isinstance(v, dict)), None)
            if isinstance(found, str):
                ids.append(found)
        shown[:] = list(dict.fromkeys(ids))
        more = " (more available: narrow the query)" if result.continuation else ""
        message.text = f"{len(shown)} twins{more}"
        message.classes(replace="tv-muted")
        table.rows = rows()
        table.update()
        chart.options.clear()
        chart.options.update(graph_options(state, shown, hub))
        chart.update()

    def pick_model() -> None:
        query.value = model_query(model_select.value or None)
        background_tasks.create(run())

    model_select.on_value_change(pick_model)
    run_button.on_click(run)
    query.on("keydown.enter", run)
    chart.on_point_click(lambda e: ui.navigate.to(shell.url(f"/twin/{e.name}")) if e.data_type == "node" else None)
    await run()
    bands: dict[str, str] = {}

    def on_change(ids: set[str], kinds: set[str]) -> None:
        # Re-colour only when a shown twin changes health band: redrawing restarts the force layout.
        changed = False
        for i in ids & set(shown):
            band = health.band(hub.asset_health(state, i))
            if bands.get(i) != band:
                bands[i], changed = band, True
        if changed or "graph" in kinds:
            table.rows = rows()
            table.update()
            chart.options.update(graph_options(state, shown, hub))
            chart.update()

    for i in shown:
        bands[i] = health.band(hub.asset_health(state, i))
    shell.watch(session, on_change)
    return None
