"""Health heat map: assets × time, the worst health per time bucket (kept in memory since the server started)."""

from __future__ import annotations

import time
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.dashboard import health, shell
from tvilling.dashboard.heat import matrix

WINDOWS = {"10 min": (600, 10), "1 h": (3600, 60), "6 h": (21_600, 300)}  # span, bucket (seconds)


def options(labels: list[str], assets: list[str], cells: list[list[Any]]) -> dict[str, Any]:
    return {
        "animation": False,
        "tooltip": {"position": "top"},
        "grid": {"left": 130, "right": 30, "top": 10, "bottom": 80},
        "xAxis": {"type": "category", "data": labels, "splitArea": {"show": True}, "axisLabel": {"fontSize": 10}},
        "yAxis": {"type": "category", "data": assets, "splitArea": {"show": True}, "axisLabel": {"fontSize": 11}},
        "visualMap": {"type": "piecewise", "orient": "horizontal", "left": "center", "bottom": 8,
                      "pieces": [{"min": 85, "max": 100, "color": health.COLORS["good"], "label": "≥ 85"},
                                 {"min": 60, "max": 84.999, "color": health.COLORS["warning"], "label": "60–85"},
                                 {"min": 0, "max": 59.999, "color": health.COLORS["critical"], "label": "< 60"}]},
        "series": [{"type": "heatmap", "data": cells, "itemStyle": {"borderColor": "#fff", "borderWidth": 1},
                    "emphasis": {"itemStyle": {"borderColor": "#1b2a3a", "borderWidth": 1}}}],
    }


@ui.page("/heatmap", title="Tvilling · health heat map")
async def heatmap_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/heatmap", "Health heat map")
    state = await session.dash.hub.tenant(session.tenant)
    last = {"t": 0.0}
    with ui.column().classes("w-full q-pa-md gap-4"), ui.card().classes("tv-card q-pa-md w-full"):
        with ui.row().classes("items-center w-full"):
            ui.label("Asset health over time").classes("tv-section")
            ui.space()
            window = ui.toggle(list(WINDOWS), value="10 min").props("dense unelevated toggle-color=primary")
        chart = ui.echart({}).classes("w-full").props("data-testid=heatmap")
        ui.label("Each cell is the worst health in that interval; history starts when the server starts.").classes(
            "tv-muted")

    def render() -> None:
        assets = state.assets()
        span, bucket = WINDOWS[window.value]
        labels, cells = matrix(state, assets, span, bucket)
        chart.style(f"height: {max(220, 34 * len(assets) + 100)}px")
        chart.options.clear()
        chart.options.update(options(labels, assets, cells))
        chart.update()
        last["t"] = time.monotonic()

    window.on_value_change(render)
    render()

    def on_change(_ids: set[str], _kinds: set[str]) -> None:
        if time.monotonic() - last["t"] >= 2.0:  # cells are 10 s wide: redrawing more often shows nothing new
            render()

    shell.watch(session, on_change)
    return None
