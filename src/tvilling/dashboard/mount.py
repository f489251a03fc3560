"""Mount NiceGUI on the platform's FastAPI app (same process, same tokens), served from ``/ui``.

No outside calls: NiceGUI serves its own Vue/Quasar/three.js/ECharts files, has no telemetry, and the
"on air" relay stays off. ``/`` redirects to the dashboard.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.responses import RedirectResponse

from tvilling.app.alarms import alarm_service
from tvilling.app.services import Services
from tvilling.dashboard import context
from tvilling.dashboard.live import LiveHub

MOUNT_PATH = "/ui"
_mounted_once = False


def _register_pages() -> None:
    # Importing the page modules registers their @ui.page routes on NiceGUI's (process-wide) app.
    from tvilling.dashboard.pages import (  # noqa: F401
        alarms,
        approvals,
        audit,
        detect,
        explorer,
        heatmap,
        integrations,
        login,
        maintenance_plan,
        models,
        overview,
        registry,
        rul,
        scenarios,
        scene,
        setpoints,
        twin,
        work_orders,
    )


def mount(app: FastAPI, services: Services) -> context.Dashboard:
    global _mounted_once
    os.environ.setdefault("NICEGUI_STORAGE_PATH", os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                               f"tvilling-nicegui-{os.getpid()}"))
    from nicegui import core, ui

    alarms = alarm_service(app.state, services)  # shared with the API and the background evaluator
    dash = context.Dashboard(services=services, alarms=alarms, hub=LiveHub(services, alarms, app.state),
                                app_state=app.state)
    context.set_current(dash)
    app.state.dashboard = dash

    @app.get("/", include_in_schema=False)
    async def _root() -> RedirectResponse:
        return RedirectResponse(MOUNT_PATH + "/")

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        context.set_current(dash)  # the app being started is the one the pages serve
        dash.hub.start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            dash.hub.stop()

    app.router.lifespan_context = lifespan
    if not _mounted_once:
        _register_pages()
        ui.run_with(app, mount_path=MOUNT_PATH, title="Tvilling", favicon=_FAVICON, dark=False,
                    storage_secret=secrets.token_hex(32), show_welcome_message=False, reconnect_timeout=10.0,
                    binding_refresh_interval=None)  # no bindings used: no 100 ms refresh loop
        _mounted_once = True
    else:
        # NiceGUI's app is a process singleton and takes middleware only once: mount it again and run its
        # start/stop hooks around this app's lifespan, as ui.run_with does.
        from nicegui.nicegui import _shutdown, _startup

        app.mount(MOUNT_PATH, core.app)
        wrapped = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def nicegui_lifespan(a: Any) -> AsyncIterator[Any]:
            await _startup()
            try:
                async with wrapped(a) as state:
                    yield state
            finally:
                await _shutdown()

        app.router.lifespan_context = nicegui_lifespan
    return dash


# An inline SVG favicon (a twin-coloured square): nothing fetched from elsewhere, no 404 in the console.
_FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
            'fill="#1f4e79"/><path d="M8 10h16v3h-6.5v13h-3V13H8z" fill="#fff"/></svg>')
