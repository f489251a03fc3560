"""The frame every page shares: sign-in check, header, navigation drawer, colours and small widgets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nicegui import app, background_tasks, events, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.auth import Principal
from tvilling.core.roles import Role
from tvilling.dashboard import context, health
from tvilling.dashboard.context import Dashboard
from tvilling.dashboard.mount import MOUNT_PATH

log = logging.getLogger(__name__)

# (path, label, icon, ready): pages still to come are listed so the navigation does not change when they land.
NAV: list[tuple[str, str, str, bool]] = [
    ("/", "Overview", "dashboard", True),
    ("/explorer", "Twin explorer", "account_tree", True),
    ("/scene", "3D view", "view_in_ar", True),
    ("/heatmap", "Health heat map", "grid_on", True),
    ("/alarms", "Alarms", "notifications_active", True),
    ("/models", "Models", "schema", True),
    ("/registry", "Model registry", "model_training", True),
    ("/detect", "Detect on a CSV", "query_stats", True),
    ("/rul", "Fleet RUL", "timelapse", True),
    ("/scenarios", "Scenarios", "science", True),
    ("/maintenance", "Work orders", "build", True),
    ("/maintenance/plan", "Maintenance plan", "calendar_month", True),
    ("/integrations", "Integrations", "hub", True),
    ("/setpoints", "Setpoints", "thermostat", True),
    ("/approvals", "Approvals", "task_alt", True),
    ("/audit", "Audit", "history", True),
]

CSS = """
body { background: #f4f6f9; }
.tv-card { background: #fff; border: 1px solid #e3e8ef; border-radius: 10px; box-shadow: none; }
.tv-kpi-value { font-size: 1.6rem; font-weight: 600; line-height: 1.1; color: #1b2a3a; }
.tv-kpi-label { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #607080; }
.tv-title { font-size: 1.25rem; font-weight: 600; color: #1b2a3a; }
.tv-section { font-size: .85rem; font-weight: 600; color: #34475a; text-transform: uppercase; letter-spacing: .04em; }
.tv-muted { color: #6b7b8c; font-size: .8rem; }
.tv-chip { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .75rem; font-weight: 600;
           color: #fff; }
a.nicegui-link, .nicegui-link { color: #1f4e79; text-decoration: none; font-weight: 500; }
a.nicegui-link:hover { text-decoration: underline; }
.q-table th { font-weight: 600; color: #34475a; }
.q-drawer .q-item.tv-active { background: #e6eef7; color: #1f4e79; font-weight: 600; }
"""


def url(path: str) -> str:
    """A dashboard path for ui.link / ui.navigate.to (NiceGUI adds the mount prefix itself)."""
    return path if path.startswith("/") else "/" + path


def href(path: str) -> str:
    """An absolute path for raw HTML anchors and HTTP redirects (no prefixing happens there)."""
    return MOUNT_PATH + url(path)


def twin_link_slot(testid_prefix: str = "", *, stop: bool = False) -> str:
    """A Quasar table cell template linking ``props.row.twinId`` to its twin page; ``testid_prefix`` gives each
    link ``data-testid="<prefix><twin>"``; ``stop`` keeps a click from also selecting the row."""
    link = "<q-td :props=\"props\"><a :href=\"'" + href("/twin/") + "' + encodeURIComponent(props.row.twinId)\""
    if stop:
        link += " @click.stop"
    if testid_prefix:
        link += "\n  :data-testid=\"'" + testid_prefix + "' + props.row.twinId\""
    return ("\n" + link + "\n  style=\"color:#1f4e79;font-weight:600;text-decoration:none\">"
            "{{ props.row.twinId }}</a></q-td>")


@dataclass
class Session:
    dash: Dashboard
    principal: Principal
    browser_id: str

    @property
    def tenant(self) -> str:
        return self.principal.tenant

    def can(self, role: Role) -> bool:
        return self.principal.role.allows(role)


def session_or_redirect(request: Request) -> Session | RedirectResponse:
    dash = context.current()
    browser_id = str(app.storage.browser.get("id", ""))
    principal = dash.principal(browser_id)
    if principal is None:
        path = request.url.path
        path = path[len(MOUNT_PATH):] if path.startswith(MOUNT_PATH + "/") else path
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(href("/login") + "?next=" + quote(target, safe=""))
    return Session(dash, principal, browser_id)


def theme() -> None:
    ui.colors(primary="#1f4e79", secondary="#4a6a8a", accent="#2e9d5b", positive="#2e9d5b", negative="#d64545",
              warning="#e0a220", info="#3b7dd8")
    ui.add_css(CSS)


def frame(session: Session, active: str, title: str) -> None:
    """Header + drawer; the caller then builds the page body in the current context."""
    theme()
    with ui.header(elevated=False).classes("items-center bg-white text-grey-9 q-px-md").style(
            "border-bottom: 1px solid #e3e8ef; height: 56px"):
        ui.html('<div style="width:26px;height:26px;border-radius:6px;background:#1f4e79;color:#fff;'
                'display:flex;align-items:center;justify-content:center;font-weight:700">T</div>', sanitize=False)
        ui.label("Tvilling").classes("text-h6 text-weight-bold").style("color:#1f4e79")
        ui.label(title).classes("tv-muted q-ml-md")
        ui.space()
        ui.label(f"tenant {session.tenant}").classes("tv-muted")
        role = session.principal.role.value
        ui.badge(role, color="primary" if session.can(Role.OPERATOR) else "grey-7").props(
            "outline").classes("q-ml-sm").props("data-testid=role-badge")

        def logout() -> None:
            session.dash.logout(session.browser_id)
            ui.navigate.to(url("/login"))

        ui.button(icon="logout", on_click=logout).props("flat round dense data-testid=logout").tooltip("Sign out")
    with ui.left_drawer(value=True, fixed=True, bordered=True).classes("bg-white q-pa-none").props("width=232"), \
            ui.list().props("dense padding").classes("w-full"):
        for path, label, icon, ready in NAV:
            item = ui.item(on_click=(lambda p=path: ui.navigate.to(url(p))) if ready else None).props(
                "clickable" if ready else "disable")
            if path == active:
                item.classes("tv-active")
            with item:
                with ui.item_section().props("avatar").style("min-width: 34px"):
                    ui.icon(icon, size="20px")
                with ui.item_section():
                    ui.item_label(label)
                if not ready:
                    with ui.item_section().props("side"):
                        ui.badge("soon", color="grey-5").props("rounded")


def file_upload(label: str, target: dict[str, Any], mark: str, *, max_bytes: int) -> ui.label:
    """An upload control that reads the chosen file into ``target`` (``name``, ``data``) and a label naming it;
    test ids ``{mark}-upload`` and ``{mark}-file``."""
    picked = ui.label("No file yet").classes("tv-muted").props(f"data-testid={mark}-file")

    async def received(e: events.UploadEventArguments) -> None:
        target["name"], target["data"] = e.file.name, await e.file.read()
        picked.text = f"{e.file.name} ({len(target['data']):,} bytes)"

    ui.upload(on_upload=received, auto_upload=True, max_file_size=max_bytes, label=label).props(
        f"accept=.csv,.txt flat bordered data-testid={mark}-upload")
    return picked


def kpi(label: str, value: str, *, mark: str = "") -> ui.label:
    with ui.card().classes("tv-card q-pa-md").style("min-width: 150px; flex: 1"):
        ui.label(label).classes("tv-kpi-label")
        out = ui.label(value).classes("tv-kpi-value")
        if mark:
            out.props(f"data-testid={mark}")
    return out


def health_chip_html(score: float | None) -> str:
    text = "–" if score is None else f"{score:.0f}"
    return f'<span class="tv-chip" style="background:{health.color(score)}">{text}</span>'


def quality_color(quality: str | None) -> str:
    return {"good": "positive", "uncertain": "warning", "bad": "negative"}.get(quality or "", "grey")


def watch(session: Session, callback: Callable[[set[str], set[str]], None]) -> None:
    """Register a page for live updates; removed when the browser tab goes away."""
    remove = session.dash.hub.watch(session.tenant, callback)
    ui.context.client.on_delete(remove)


def follow(session: Session, kinds: Iterable[str], callback: Callable[[], None]) -> None:
    """Call ``callback`` on the event loop for every event of the session's tenant whose kind is one of ``kinds``
    or starts with one of them and a dot (e.g. ``killswitch``): for events the live hub does not sort into a kind.
    The subscription ends when the browser tab goes away."""
    sub = session.dash.services.bus.subscribe(session.tenant, kinds=kinds)

    async def pump() -> None:
        async for _event in sub:
            try:
                callback()
            except Exception:  # a page that fails to update must not stop following
                log.exception("dashboard event follower failed")

    background_tasks.create(pump(), name=f"follow-{session.tenant}")
    ui.context.client.on_delete(sub.close)


class Refresher:
    """Runs an async refresh on demand, one run at a time: demands made during a run fold into one more run.
    Callable with any arguments, so it serves as a button handler, a :func:`watch` or a :func:`follow` callback."""

    def __init__(self, refresh: Callable[[], Awaitable[None]]) -> None:
        self._refresh = refresh
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def __call__(self, *_: Any) -> None:
        self._again = True
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._run(), name="dashboard-refresh")

    async def _run(self) -> None:
        while self._again:
            self._again = False
            await self._refresh()


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    if value is None:
        return "–"
    return str(value)
