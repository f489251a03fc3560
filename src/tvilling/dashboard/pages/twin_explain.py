"""The twin page's "Why did it change?" card: pick one of the twin's numeric properties and a window, and the
signals of the twins around it are ranked by how well they account for the change, with their evidence, beside what
happened to those twins meanwhile (commands, alarms, work orders, setpoint loops, kill switches).

The answer is :class:`tvilling.app.explain.ExplainService`'s, the service behind
``GET /api/v1/twins/{id}/explain/{name}`` (the method is in :mod:`tvilling.ml.explain`); it is read-only, so every
role may ask. It reads history, so it runs off the event loop. Times are UTC, like everywhere on the dashboard; the
reference window is the service's default (as long as the window, right before it). A request the service refuses
(a window too long or too short, an end before the start) is shown as one line with its hint, never a trace.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from nicegui import ui

from tvilling.app.explain import MAX_HOPS, ExplainService
from tvilling.core.errors import TvillingError, ValidationError
from tvilling.dashboard import history, shell
from tvilling.dashboard.live import TenantState

log = logging.getLogger(__name__)
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what a datetime-local input holds
DIRECTIONS = ("any", "down", "up")
EVENTS_PER_PAGE = 15
CONTRIBUTOR_COLUMNS: list[dict[str, Any]] = [
    {"name": "rank", "label": "#", "field": "rank", "align": "right"},
    {"name": "signal", "label": "Signal", "field": "signal", "align": "left", "classes": "text-no-wrap"},
    {"name": "kind", "label": "Kind", "field": "kind", "align": "left"},
    {"name": "levels", "label": "Reference → during", "field": "levels", "align": "right",
     "classes": "text-no-wrap"},
    {"name": "z", "label": "z", "field": "z", "align": "right"},
    {"name": "timing", "label": "Timing", "field": "timing", "align": "left"},
    {"name": "correlation", "label": "Correlation", "field": "correlation", "align": "right"},
    {"name": "path", "label": "Related by", "field": "path", "align": "left"},
]
EVENT_COLUMNS: list[dict[str, Any]] = [
    {"name": "time", "label": "Time (UTC)", "field": "time", "align": "left", "classes": "text-no-wrap"},
    {"name": "kind", "label": "Kind", "field": "kind", "align": "left"},
    {"name": "twinId", "label": "Twin", "field": "twinId", "align": "left"},
    {"name": "actor", "label": "By", "field": "actor", "align": "left"},
    {"name": "summary", "label": "What", "field": "summary", "align": "left"},
]
SIGNAL_SLOT = r'''
<q-td :props="props"><a
  :href="'%s' + encodeURIComponent(props.row.twin) + '?prop=' + encodeURIComponent(props.row.name)"
  :data-testid="'explain-signal-' + props.row.rank"
  style="color:#1f4e79;font-weight:600;text-decoration:none">{{ props.row.signal }}</a></q-td>'''
KIND_SLOT = r'''
<q-td :props="props"><q-badge outline :color="{setting:'primary', state:'warning'}[props.row.kind] || 'grey-7'"
  :label="props.row.kind" /><div v-if="props.row.first" class="tv-muted">ranked first: it moved at or before
  the change</div></q-td>'''
def numeric_properties(state: TenantState, twin_id: str) -> list[str]:
    """The twin's live numeric properties: what ingestion stores as numbers, so what has a numeric history."""
    twin = state.twins.get(twin_id)
    if twin is None:
        return []
    return sorted(name for name, p in twin.props.items()
                  if isinstance(p.value, int | float) and not isinstance(p.value, bool))


def default_window(state: TenantState, twin_id: str, now: datetime) -> tuple[str, str]:
    """The last hour as datetime-local texts (UTC), ending at the twin's newest sample like the history chart (a
    simulated or replayed plant has source times far from now), rounded up to the minute."""
    twin = state.twins.get(twin_id)
    newest = max((t for p in (twin.props.values() if twin else ()) if (t := history.parse_time(p.source_time))),
                 default=None)
    end = (newest or now).astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return (end - timedelta(hours=1)).strftime(INPUT_FORMAT), end.strftime(INPUT_FORMAT)


def parse_utc(text: str | None, label: str) -> datetime:
    """A datetime-local value ('2026-11-24T02:00'), read as UTC like every time on the dashboard."""
    if not text or not text.strip():
        raise ValidationError(f"{label} is empty", hint="give a date and time (UTC)")
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{label} is not a date and time: {text.strip()!r}",
                              hint="e.g. 2026-11-24T02:00 (UTC)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def stamp(iso: str | None, seconds: bool = False) -> str:
    """An RFC 3339 time from the service as the dashboard writes times (UTC, no zone letter)."""
    return "–" if not iso else iso.replace("T", " ").replace("Z", "")[:19 if seconds else 16]


def duration(seconds: float) -> str:
    s = abs(seconds)
    return f"{s / 3600:g} h" if s >= 3600 and s % 3600 == 0 else f"{s / 60:g} min" if s >= 60 else f"{s:g} s"


def compact_path(root: str, steps: list[str]) -> str:
    """("line-1 contains filler-1", "filler-1-motor drives filler-1") → "line-1 —contains→ filler-1 ←drives—
    filler-1-motor"; "this twin" for the twin itself."""
    if not steps:
        return "this twin"
    out, here = root, root
    for step in steps:
        parts = step.split(" ")
        if len(parts) != 3:
            return " · ".join(steps)
        source, name, target = parts
        if source == here:
            out, here = f"{out} —{name}→ {target}", target
        elif target == here:
            out, here = f"{out} ←{name}— {source}", source
        else:
            return " · ".join(steps)
    return out


def unit_of(state: TenantState, twin_id: str, name: str, given: str | None) -> str:
    """The unit the service gave, else the live property's."""
    if given:
        return given
    twin = state.twins.get(twin_id)
    prop = twin.props.get(name) if twin else None
    return (prop.unit or "") if prop else ""


def summary(body: dict[str, Any], state: TenantState) -> str:
    """One line: what changed, from what to what, since when; or why nothing is explained."""
    target = body["target"]
    if not body["changed"]:
        return body["notes"][0] if body["notes"] else "Nothing changed."
    ref, during = target["reference"], target["during"]
    moved = "fell" if during is not None and ref is not None and during < ref else "rose"
    unit = unit_of(state, target["twin"], target["name"], target.get("unit"))
    return (f"{target['twin']}.{target['name']} {moved} from {shell.fmt(ref)} to {shell.fmt(during)}"
            f"{' ' + unit if unit else ''} since {stamp(target['since'])} UTC")


def meta(body: dict[str, Any]) -> str:
    line = (f"Reference {stamp(body['referenceStart'])} → {stamp(body['referenceEnd'])} UTC · "
            f"{duration(body['bucketS'])} buckets · {body['series']} other series on {body['twins']} twin(s) within "
            f"{body['hops']} hop(s)")
    return line + (f" · {body['skipped']} without enough data" if body.get("skipped") else "")


def contributor_rows(body: dict[str, Any], state: TenantState) -> list[dict[str, Any]]:
    rows = []
    for i, c in enumerate(body["contributors"], start=1):
        unit = unit_of(state, c["twin"], c["name"], c.get("unit"))
        lead = c.get("leadS")
        timing = c["timing"] + (f" ({duration(lead)})" if lead else "")
        r = c.get("correlation")
        rows.append({
            "rank": i, "twin": c["twin"], "name": c["name"], "signal": f"{c['twin']}.{c['name']}",
            "kind": c["kind"], "first": c["first"], "timing": timing,
            "levels": f"{shell.fmt(c['reference'])} → {shell.fmt(c['during'])}" + (f" {unit}" if unit else ""),
            "z": "–" if c.get("z") is None else f"{c['z']:+.1f}",
            "correlation": "–" if r is None else f"{r:+.2f}" + (
                f" (leads {duration(c['lagS'])})" if c.get("lagS") else ""),
            "path": compact_path(body["twinId"], c["path"])})
    return rows


def event_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": i, "time": stamp(e["time"], seconds=True), "kind": e["kind"], "twinId": e["twinId"],
             "actor": e["actor"], "summary": e["summary"]} for i, e in enumerate(body["events"])]


def explain_panel(session: shell.Session, state: TenantState, twin_id: str, prop: str | None) -> None:
    """The card, built in the current container."""
    dash, tenant = session.dash, session.tenant
    names = numeric_properties(state, twin_id)
    start_text, end_text = default_window(state, twin_id, dash.services.clock.now())
    with ui.card().classes("tv-card q-pa-md w-full").props("data-testid=explain-card"):
        with ui.row().classes("items-center w-full gap-2"):
            ui.label("Why did it change?").classes("tv-section")
            ui.label("Signals of the twins around this one, ranked by how well they account for the change "
                     "against the same span just before; correlation in time, not proof.").classes("tv-muted")
        if not names:
            ui.label("This twin has no numeric live property to explain.").classes("tv-muted").props(
                "data-testid=explain-none")
            return
        with ui.row().classes("items-end w-full gap-3"):
            prop_select = ui.select(names, value=prop if prop in names else names[0], label="Property").props(
                "dense outlined options-dense data-testid=explain-prop").style("width: 190px")
            start_input = ui.input("From (UTC)", value=start_text).props(
                "dense outlined stack-label type=datetime-local data-testid=explain-start").classes("w-56")
            end_input = ui.input("To (UTC)", value=end_text).props(
                "dense outlined stack-label type=datetime-local data-testid=explain-end").classes("w-56")
            direction_select = ui.select(list(DIRECTIONS), value="any", label="Direction").props(
                "dense outlined options-dense data-testid=explain-direction").style("width: 100px")
            hops_select = ui.select(list(range(MAX_HOPS + 1)), value=2, label="Hops").props(
                "dense outlined options-dense data-testid=explain-hops").style("width: 80px")
            run = ui.button("Explain", icon="manage_search").props("unelevated color=primary data-testid=explain-run")
        error = ui.label("").classes("text-negative").props("data-testid=explain-error")
        error.set_visibility(False)
        result = ui.column().classes("w-full gap-2").props("data-testid=explain-result")

    def show_error(text: str) -> None:
        result.clear()
        error.text = text
        error.set_visibility(True)

    async def explain() -> None:
        error.set_visibility(False)
        try:
            start, end = parse_utc(start_input.value, "From"), parse_utc(end_input.value, "To")
            name, direction, hops = str(prop_select.value), direction_select.value, int(hops_select.value)
            service = ExplainService(dash.services)
            run.props("loading")
            body = await asyncio.to_thread(service.explain, tenant, twin_id, name, start, end, hops=hops,
                                           direction=direction)
        except TvillingError as exc:
            show_error(exc.message + (f" — {exc.hint}" if exc.hint else ""))
            return
        except Exception:  # the page stays usable whatever goes wrong; the details go to the server log
            log.exception("explaining %s.%s failed", twin_id, prop_select.value)
            show_error("The explanation failed unexpectedly; the server log has the details.")
            return
        finally:
            run.props(remove="loading")
        render(body)

    def render(body: dict[str, Any]) -> None:
        result.clear()
        with result:
            ui.label(summary(body, state)).classes("text-weight-medium").props("data-testid=explain-summary")
            ui.label(meta(body)).classes("tv-muted").props("data-testid=explain-meta")
            for note in body["notes"][1 if not body["changed"] else 0:]:
                ui.label(note).classes("tv-muted")
            if body["changed"]:
                ui.label("Contributors").classes("tv-section q-mt-sm")
                rows = contributor_rows(body, state)
                if rows:
                    table = ui.table(columns=CONTRIBUTOR_COLUMNS, rows=rows, row_key="rank",
                                     pagination={"rowsPerPage": 0}).props(
                        "flat dense wrap-cells hide-bottom data-testid=explain-contributors").classes("w-full")
                    table.add_slot("body-cell-signal", SIGNAL_SLOT % shell.href("/twin/"))
                    table.add_slot("body-cell-kind", KIND_SLOT)
                else:
                    ui.label("No related signal has enough data in both windows to be ranked.").classes(
                        "tv-muted").props("data-testid=explain-no-contributors")
            ui.label("What happened meanwhile").classes("tv-section q-mt-sm")
            events = event_rows(body)
            if events:
                paged = len(events) > EVENTS_PER_PAGE  # up to the service's 200: a page at a time
                table = ui.table(columns=EVENT_COLUMNS, rows=events, row_key="key",
                                 pagination={"rowsPerPage": EVENTS_PER_PAGE if paged else 0}).props(
                    "flat dense wrap-cells data-testid=explain-events" + ("" if paged else " hide-bottom")).classes(
                    "w-full")
                table.add_slot("body-cell-twinId", shell.twin_link_slot())
            else:
                ui.label("No commands, alarms, work orders, setpoint-loop or kill-switch events on these twins "
                         "in the reference and the window.").classes("tv-muted").props("data-testid=explain-no-events")

    run.on_click(explain)
