"""Routes for the pages still to come, so links and bookmarks already work and the navigation stays stable."""

from __future__ import annotations

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.dashboard import shell

COMING = {"/approvals": "Approvals for guarded actions", "/audit": "Audit trail"}


def _register(path: str, title: str) -> None:
    @ui.page(path, title=f"Tvilling · {title}")
    def page(request: Request) -> RedirectResponse | None:
        session = shell.session_or_redirect(request)
        if isinstance(session, RedirectResponse):
            return session
        shell.frame(session, path, title)
        with ui.card().classes("tv-card q-pa-lg q-ma-md"):
            ui.label(title).classes("tv-title")
            ui.label("This page is planned; the navigation entry is in place.").classes("tv-muted")
        return None


for _path, _title in COMING.items():
    _register(_path, _title)
