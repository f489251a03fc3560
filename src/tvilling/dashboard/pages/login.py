"""Sign in with a bearer token (the same tokens the API takes; user/password comes later)."""

from __future__ import annotations

from nicegui import app, ui

from tvilling.core.errors import TvillingError
from tvilling.dashboard import context, shell


def _safe_next(target: str | None) -> str:
    # Only our own pages: an open redirect would let a link send a signed-in operator anywhere.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return shell.url("/")


@ui.page("/login", title="Tvilling · sign in")
def login_page(next: str | None = None) -> None:
    shell.theme()
    target = _safe_next(next)
    with ui.column().classes("absolute-center items-stretch").style("width: 420px"), \
            ui.card().classes("tv-card q-pa-lg"):
        with ui.row().classes("items-center q-gutter-sm"):
            ui.html('<div style="width:34px;height:34px;border-radius:8px;background:#1f4e79;color:#fff;'
                    'display:flex;align-items:center;justify-content:center;font-weight:700;font-size:20px">T</div>',
                    sanitize=False)
            ui.label("Tvilling operator dashboard").classes("tv-title")
        ui.label("Sign in with an access token (tvl_…). `tvilling demo` prints one; "
                 "`tvilling token create --role viewer` makes more.").classes("tv-muted")
        token = ui.input("Access token", password=True, password_toggle_button=True).props(
            "outlined dense autofocus data-testid=token").classes("w-full")
        error = ui.label("").classes("text-negative text-caption").props("data-testid=login-error")

        def submit() -> None:
            try:
                request = getattr(ui.context.client, "request", None)
                source = request.client.host if request is not None and request.client else "unknown"
                context.current().login(str(app.storage.browser["id"]), token.value or "", source)
            except TvillingError as exc:
                error.text = exc.message
                return
            ui.navigate.to(target)

        token.on("keydown.enter", submit)
        ui.button("Sign in", on_click=submit).props("unelevated color=primary data-testid=sign-in").classes("w-full")
