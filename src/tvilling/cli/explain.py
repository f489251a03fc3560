"""``tvilling explain TWIN PROPERTY``: why did this signal change? Through the SDK (a running server, viewer role).

The server compares the incident (``--start`` .. ``--end``) with a reference window (by default as long, right
before), walks the twin graph up to ``--hops`` relationships away and ranks the signals there by how well they
account for the change, with the evidence for each; beside them, the commands, alarms and work orders on those twins
meanwhile (docs/explain.md). This prints one line saying what changed, the ranked signals and the events; with
``--json`` the API's answer as one JSON object.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, cast

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, fail, utc_text
from tvilling.cli.remote import AsJson, Token, Url, connect

DIRECTIONS = ("down", "up", "any")
_BUCKET = re.compile(r"(\d+)\s*([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _bucket_s(text: str | None) -> int | None:
    """``--bucket``: seconds, or 1m / 5m / 15m / 1h / 6h / 1d."""
    if text is None:
        return None
    m = _BUCKET.fullmatch(text.strip())
    if m is None:
        fail(f"--bucket {text!r} is not a duration: give seconds or 1m, 5m, 15m, 1h, 6h, 1d")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def _places(spread: Any, *values: Any, extra: int = 1) -> int:
    """Decimals for one signal's numbers: none when they are all whole (a setpoint, a 0/1 state), else to the
    precision of its noise (its robust spread) and ``extra`` digit(s) more, at most 3."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if all(abs(v - round(v)) < 1e-9 for v in finite):
        return 0
    if not isinstance(spread, int | float) or not math.isfinite(spread) or spread < 1e-6:
        return 2  # constant in its reference: the floor of the spread says nothing about its precision
    return max(0, min(3, extra - math.floor(math.log10(spread))))


def _num(value: Any, places: int, sign: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:{sign}.{places}f}"


def _unit(item: dict[str, Any]) -> str:
    return f" {item['unit']}" if item.get("unit") else ""


def _minute(value: str | None) -> str:
    """``YYYY-MM-DD HH:MM`` in UTC, with the seconds only where they are not zero (bucket starts never have)."""
    return utc_text(value).removesuffix(":00")


def _duration(seconds: Any) -> str:
    s = abs(float(seconds or 0))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{s / size:g} {unit}"
    return f"{s:g} s"


def summary(body: dict[str, Any]) -> str:
    """One line: what changed, from what level to what, since when (or that it did not change)."""
    target = body["target"]
    name = f"{target['twin']}.{target['name']}"
    if target.get("reference") is None:
        return (f"{name}: too few readings between {_minute(body['referenceStart'])} and "
                f"{_minute(body['referenceEnd'])} UTC to tell whether it changed")
    if not body.get("changed") or target.get("during") is None:
        return f"{name} did not change between {_minute(body['start'])} and {_minute(body['end'])} UTC"
    verb = "fell" if target["during"] < target["reference"] else "rose"
    places = _places(target.get("spread"), target["reference"], target["during"], extra=0)
    return (f"{name} {verb} from {_num(target['reference'], places)} to {_num(target['during'], places)}"
            f"{_unit(target)} since {_minute(target.get('since'))} UTC")


def _timing(c: dict[str, Any]) -> str:
    lead = c.get("leadS")
    if not lead:
        return str(c.get("timing") or "-")
    return f"{c['timing']} ({_duration(lead)})"


def _correlation(c: dict[str, Any]) -> str:
    r = _num(c.get("correlation"), 2, "+")
    return f"{r} (leads {_duration(c['lagS'])})" if c.get("lagS") and r != "-" else r


def contributors_table(items: list[dict[str, Any]]) -> Table:
    table = Table(title="related signals, most likely first")
    for column in ("#", "signal", "kind", "change", "z", "timing", "correlation", "path"):
        table.add_column(column, overflow="fold")
    for rank, c in enumerate(items, 1):
        places = _places(c.get("spread"), c.get("reference"), c.get("during"))
        change = (f"{_num(c.get('change'), places, '+')}{_unit(c)} "
                  f"({_num(c.get('reference'), places)} -> {_num(c.get('during'), places)})")
        kind = f"{c['kind']}, first" if c.get("first") else str(c["kind"])
        table.add_row(str(rank), f"{c['twin']}.{c['name']}", kind, change, _num(c.get("z"), 1, "+"),
                      _timing(c), _correlation(c), "; ".join(c.get("path") or []) or "(this twin)")
    return table


def events_table(items: list[dict[str, Any]]) -> Table:
    table = Table(title="meanwhile on these twins")
    for column in ("at (UTC)", "kind", "twin", "by", "what"):
        table.add_column(column, overflow="fold")
    for e in items:
        table.add_row(utc_text(e.get("time")), e["kind"], e.get("twinId") or "-", e.get("actor") or "-",
                      e.get("summary") or "-")
    return table


def explain(
    twin_id: Annotated[str, typer.Argument(metavar="TWIN", help="The twin whose signal changed.")],
    name: Annotated[str, typer.Argument(metavar="PROPERTY", help="Its property (one with history), e.g. throughput.")],
    start: Annotated[str | None, typer.Option(
        help="When the change to explain starts: ISO 8601 with a zone, e.g. 2026-11-24T00:00:00Z (default: an hour "
             "before --end).")] = None,
    end: Annotated[str | None, typer.Option(help="When it ends (default: now).")] = None,
    reference_start: Annotated[str | None, typer.Option(
        help="Start of the normal window to compare with (give both or neither; default: as long, right before).")]
    = None,
    reference_end: Annotated[str | None, typer.Option(help="End of the normal window (at most --start).")] = None,
    hops: Annotated[int, typer.Option(help="Relationships walked from the twin (0-4).")] = 2,
    bucket: Annotated[str | None, typer.Option(
        help="Grid step: 1m, 5m, 15m, 1h, 6h or 1d (default: the smallest that fits).")] = None,
    direction: Annotated[str, typer.Option(help="The change to explain: down, up or any.")] = "any",
    top: Annotated[int, typer.Option(help="At most this many related signals (1-100).")] = 10,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Why did a twin's signal change between --start and --end (default: the last hour)? Ranks the signals of the
    twins around it, with the evidence, and lists the commands, alarms and work orders meanwhile (viewer role)."""
    if direction not in DIRECTIONS:
        fail(f"--direction {direction!r}: give down, up or any")
    seconds = _bucket_s(bucket)
    with connect(url, token) as client:
        body = client.explain(twin_id, name, start=start, end=end, reference_start=reference_start,
                              reference_end=reference_end, hops=hops, bucket=seconds,
                              direction=cast(Literal["down", "up", "any"], direction), top=top)
    if as_json:
        emit_json(body)
        return
    console = Console(markup=False, emoji=False)  # names and event summaries are people's text: "[x]" is no style
    console.print(summary(body))
    console.print(f"compared with {_minute(body['referenceStart'])} .. {_minute(body['referenceEnd'])} UTC; "
                  f"{body['series']} signals of {body['twins']} twins within {body['hops']} hop(s), "
                  f"{_duration(body['bucketS'])} buckets"
                  + (f"; {body['skipped']} skipped (too few readings in a window, or not numeric)"
                     if body.get("skipped") else ""))
    for note in body.get("notes") or []:
        console.print(f"note: {note}")
    if body["contributors"]:
        console.print(contributors_table(body["contributors"]))
    elif body.get("changed"):
        console.print("no related signal with enough history to rank")
    if body["events"]:
        console.print(events_table(body["events"]))
    else:
        console.print("no commands, alarms or work orders on these twins meanwhile")
