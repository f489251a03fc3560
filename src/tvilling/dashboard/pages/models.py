"""Models: the tenant's DTDL interfaces; engineers upload new ones and see every validation problem."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nicegui import events, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.core.errors import TvillingError
from tvilling.core.roles import Role
from tvilling.dashboard import shell

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "label": "Model id", "field": "id", "align": "left", "sortable": True},
    {"name": "displayName", "label": "Name", "field": "displayName", "align": "left"},
    {"name": "uploadTime", "label": "Uploaded", "field": "uploadTime", "align": "left", "sortable": True},
    {"name": "decommissioned", "label": "Decommissioned", "field": "decommissioned", "align": "left"},
]
PROBLEM_COLUMNS: list[dict[str, Any]] = [
    {"name": "where", "label": "Where", "field": "where", "align": "left"},
    {"name": "message", "label": "Problem", "field": "message", "align": "left"},
    {"name": "hint", "label": "How to fix", "field": "hint", "align": "left"},
]


def parse_documents(texts: list[tuple[str, str]]) -> tuple[list[Any], list[dict[str, str]]]:
    """JSON documents (each a DTDL interface or a list of them) from uploaded files; parse problems listed."""
    docs: list[Any] = []
    problems: list[dict[str, str]] = []
    for name, text in texts:
        try:
            value = json.loads(text)
        except ValueError as exc:
            problems.append({"where": name, "message": f"not valid JSON: {exc}", "hint": "fix the JSON syntax"})
            continue
        docs.extend(value if isinstance(value, list) else [value])
    return docs, problems


def display(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


@ui.page("/models", title="Tvilling · models")
async def models_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/models", "Models")
    services = session.dash.services
    can_upload = session.can(Role.ENGINEER)
    pending: list[tuple[str, str]] = []

    async def model_rows() -> list[dict[str, Any]]:
        items, _ = await asyncio.to_thread(services.models.list, session.tenant, limit=1000)
        return [{**m, "displayName": display(m.get("displayName")), "decommissioned": "yes" if m[
            "decommissioned"] else "", "uploadTime": str(m.get("uploadTime", ""))[:19].replace("T", " ")}
                for m in items]

    with ui.column().classes("w-full q-pa-md gap-4"), ui.row().classes("w-full no-wrap gap-4 items-start"):
        with ui.card().classes("tv-card q-pa-md").style("flex: 3"):
            ui.label("Uploaded models").classes("tv-section")
            table = ui.table(columns=COLUMNS, rows=await model_rows(), row_key="id",
                             pagination={"rowsPerPage": 15}).props("flat dense data-testid=model-table").classes(
                "w-full")
        with ui.card().classes("tv-card q-pa-md").style("flex: 2; min-width: 360px"):
            ui.label("Upload DTDL").classes("tv-section")
            if not can_upload:
                ui.label(f"Read-only: the {session.principal.role.value} role cannot upload models "
                         "(engineer or admin can).").classes("tv-muted").props("data-testid=read-only")
                return None
            ui.label("Drop .json files (one interface or an array each), then validate and upload. Nothing is "
                     "stored unless every model is valid.").classes("tv-muted")
            picked = ui.label("").classes("tv-muted")

            async def received(e: events.UploadEventArguments) -> None:
                pending.append((e.file.name, await e.file.text()))
                picked.text = "Ready: " + ", ".join(n for n, _ in pending)

            ui.upload(on_upload=received, multiple=True, auto_upload=True, label="DTDL files").props(
                "accept=.json flat bordered data-testid=model-upload").classes("w-full")
            pasted = ui.textarea("…or paste JSON").props("outlined autogrow data-testid=model-json").classes(
                "w-full").style("font-family: monospace; font-size: 12px")
            with ui.row().classes("gap-2"):
                upload_button = ui.button("Validate & upload", icon="upload").props(
                    "unelevated color=primary data-testid=model-submit")
                def clear() -> None:
                    pending.clear()
                    pasted.value = ""
                    picked.text = ""

                ui.button("Clear", on_click=clear).props("flat")
            outcome = ui.label("").props("data-testid=model-outcome")
            problems = ui.table(columns=PROBLEM_COLUMNS, rows=[], row_key="message").props(
                "flat dense wrap-cells data-testid=model-problems").classes("w-full")
            problems.set_visibility(False)

    async def submit() -> None:
        texts = list(pending) + ([("pasted JSON", pasted.value)] if (pasted.value or "").strip() else [])
        docs, parse_problems = parse_documents(texts)
        found = parse_problems
        if not found:
            try:
                created = await asyncio.to_thread(services.models.upload, session.tenant, docs,
                                                  session.principal.context())
            except TvillingError as exc:
                found = [p.as_dict() for p in exc.problems] or [{"where": exc.where, "message": exc.message,
                                                                  "hint": exc.hint}]
            else:
                outcome.text = f"Uploaded {len(created)} model(s)."
                outcome.classes(replace="text-positive")
                pending.clear()
                pasted.value = ""
                problems.set_visibility(False)
                table.rows = await model_rows()
                table.update()
                return
        outcome.text = f"{len(found)} problem(s); nothing was stored."
        outcome.classes(replace="text-negative")
        problems.rows = [{"where": p.get("where", ""), "message": p.get("message", ""), "hint": p.get("hint", "")}
                         for p in found]
        problems.set_visibility(True)
        problems.update()

    upload_button.on_click(submit)
    return None
