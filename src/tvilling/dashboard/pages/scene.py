"""3D view: the plant layout (from the twin graph) in a three.js scene, assets coloured by health; click a block
to open its twin."""

from __future__ import annotations

from typing import Any

from nicegui import events, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.dashboard import health, layout3d, shell


@ui.page("/scene", title="Tvilling · 3D view")
async def scene_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/scene", "3D view")
    hub = session.dash.hub
    state = await hub.tenant(session.tenant)
    placements = layout3d.layout(state.twins, state.edges)
    blocks: dict[str, Any] = {}
    bands: dict[str, str] = {}

    def score(twin_id: str) -> float | None:
        return hub.asset_health(state, twin_id)

    def clicked(e: events.SceneClickEventArguments) -> None:
        for hit in e.hits:
            if hit.object_name in blocks:
                ui.navigate.to(shell.url(f"/twin/{hit.object_name}"))
                return

    with ui.column().classes("w-full q-pa-md gap-4"), ui.card().classes("tv-card q-pa-md w-full"):
        with ui.row().classes("items-center w-full"):
            ui.label("Plant layout").classes("tv-section")
            ui.space()
            for band, label in (("good", "healthy ≥ 85"), ("warning", "60–85"), ("critical", "< 60"),
                                ("unknown", "no data")):
                ui.html(f'<span class="tv-chip" style="background:{health.COLORS[band]}">{label}</span>',
                        sanitize=False)
        if not placements:
            ui.label("No twins to place yet.").classes("tv-muted")
        xs = [p.x for p in placements] or [0.0]
        zs = [p.z for p in placements] or [0.0]
        cx, cy = (min(xs) + max(xs)) / 2, (min(zs) + max(zs)) / 2
        with ui.scene(width=1100, height=600, grid=False, background_color="#eef2f6",
                      on_click=clicked).classes("w-full").props("data-testid=plant-scene") as scene:
            scene.box(max(xs) - min(xs) + 10, max(zs) - min(zs) + 9, 0.05).move(cx, cy - 1, 0).material("#d5dde6")
            for p in placements:
                w, h, d = p.size
                s = score(p.twin_id)
                bands[p.twin_id] = health.band(s)
                blocks[p.twin_id] = scene.box(w, d, h).move(p.x, p.z, h / 2).material(
                    health.color(s)).with_name(p.twin_id)
                if p.kind == "machine":
                    scene.text(p.twin_id, style="font-size: 12px; color: #1b2a3a; background: rgba(255,255,255,.85);"
                               " padding: 1px 6px; border-radius: 4px").move(p.x, p.z, h + 0.7)
            scene.move_camera(x=cx, y=cy - 11, z=7.5, look_at_x=cx, look_at_y=cy, look_at_z=0, duration=0)
        ui.label("Drag to orbit, scroll to zoom; click a block to open the twin.").classes("tv-muted")

    def on_change(ids: set[str], _kinds: set[str]) -> None:
        touched = set(ids)
        for i in ids:
            parent = state.parent_of(i)
            if parent:
                touched.add(parent)
        for i in touched & blocks.keys():
            s = score(i)
            if health.band(s) != bands.get(i):
                bands[i] = health.band(s)
                blocks[i].material(health.color(s))

    shell.watch(session, on_change)
    return None
