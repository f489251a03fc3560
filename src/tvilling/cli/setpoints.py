"""``tvilling setpoints list|show|proposals|enable|disable`` through the SDK (a running server).

The setpoint loops of ``setpoints.yaml`` (docs/setpoints.md) choose a zone's heating and cooling setpoints. Reading
them and their proposals needs a viewer token; ``disable`` (stop a loop's autonomy: it goes on proposing and sends
nothing by itself) an operator token; ``enable`` (let an ``auto`` loop send its setpoints by itself) an engineer
token, as releasing a kill switch does.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, utc_text
from tvilling.cli.remote import AsJson, Token, Url, connect

app = typer.Typer(help="Setpoint loops: list, show, proposals; enable or disable their autonomy.",
                  no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The loop's name in setpoints.yaml.")]


def _console() -> Console:
    return Console(markup=False, emoji=False)  # reasons are people's text: "[x]" is not a style


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _num(value: Any, unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:g}{unit}"


def _band(loop: dict[str, Any]) -> str:
    band = loop.get("band") or {}
    return f"{_num(band.get('low'))}..{_num(band.get('high'))} degC"


def _autonomy(loop: dict[str, Any]) -> str:
    """``on``, ``off (why)`` or ``-`` (a recommend or approve loop has no autonomy)."""
    autonomy = loop.get("autonomy")
    if not autonomy:
        return "-"
    if autonomy.get("enabled"):
        return "on"
    return f"off ({autonomy['suspendedReason']})" if autonomy.get("suspendedReason") else "off (not enabled yet)"


def _ever_changed(autonomy: dict[str, Any]) -> bool:
    """Whether anyone ever enabled or disabled it (a loop never touched has no changedAt)."""
    return bool(autonomy) and bool(autonomy.get("changedAt"))


def _move(proposal: dict[str, Any], key: str) -> str:
    """``current -> proposed`` of one setpoint (``current`` alone when it stays)."""
    was = (proposal.get("current") or {}).get(key)
    new = (proposal.get("proposed") or {}).get(key)
    if new is None or new == was:
        return _num(was)
    return f"{_num(was)} -> {_num(new)}"


def _confident(proposal: dict[str, Any]) -> str:
    confidence = proposal.get("confidence") or {}
    if "confident" not in confidence:
        return "-"
    return "yes" if confidence["confident"] else "no"


@app.command("list")
def list_loops(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """The setpoint loops: mode, band, autonomy and the last decision (viewer role)."""
    with connect(url, token) as client:
        items: list[Any] = list(client.setpoint_loops()["value"])
    if as_json:
        emit_json({"value": items, "count": len(items)})
        return
    if not items:
        typer.echo("no setpoint loops (none in setpoints.yaml on this server)")
        return
    table = Table()
    table.add_column("name", no_wrap=True, overflow="fold")  # kept whole: `setpoints show` needs it
    for name in ("twin", "mode", "band", "autonomy", "last decision", "at (UTC)", "saving kWh"):
        table.add_column(name, overflow="fold")
    for loop in items:
        last = loop.get("last") or {}
        table.add_row(loop["name"], loop["twin"], loop["mode"], _band(loop), _autonomy(loop),
                      _text(last.get("decision")), utc_text(last.get("createdAt")), _num(last.get("savingKwh")))
    _console().print(table)


@app.command("show")
def show_loop(name: Name, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """One setpoint loop: its settings, autonomy and last proposal (viewer role)."""
    with connect(url, token) as client:
        loop = client.setpoint_loop(name)
    if as_json:
        emit_json(loop)
        return
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    autonomy = loop.get("autonomy") or {}
    last = loop.get("last") or {}
    for label, value in (
            ("name", loop["name"]), ("twin", loop["twin"]), ("mode", loop["mode"]), ("band", _band(loop)),
            ("margin", _num(loop.get("margin"), " K")), ("period", _num(loop.get("periodS"), " s")),
            ("lease", _num(loop.get("leaseS"), " s")),
            ("autonomy", _autonomy(loop)),
            ("changed (UTC)", utc_text(autonomy.get("changedAt")) if _ever_changed(autonomy) else "-"),
            ("changed by", _text(autonomy.get("changedBy")) if _ever_changed(autonomy) else "-"),
            ("last decision", _text(last.get("decision"))), ("decided (UTC)", utc_text(last.get("createdAt"))),
            ("heating setpoint", _move(last, "heatingSetpoint") if last else "-"),
            ("cooling setpoint", _move(last, "coolingSetpoint") if last else "-"),
            ("saving", _num(last.get("savingKwh"), " kWh")), ("confident", _confident(last)),
            ("reasons", "; ".join(str(r) for r in last.get("reasons") or []) or "-")):
        fields.add_row(label, value)
    _console().print(fields)


@app.command("proposals")
def proposals(
    name: Name,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many, newest first.")] = 20,
    before: Annotated[str | None, typer.Option("--before", help="Older than this (a previous page's nextBefore).")]
    = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """A loop's proposals, newest first: the decision, the setpoints it moves, the saving (viewer role)."""
    with connect(url, token) as client:
        page = client.setpoint_proposals(name, limit=limit, before=before)
    items: list[Any] = list(page["value"])
    if as_json:
        emit_json({"value": items, "count": len(items), "nextBefore": page.get("nextBefore")})
        return
    if not items:
        typer.echo(f"no proposals of setpoint loop {name}" + (" before that" if before else " yet"))
        return
    table = Table()
    for column in ("decided (UTC)", "decision", "heating", "cooling", "saving kWh", "confident", "reasons"):
        table.add_column(column, overflow="fold")
    for p in items:
        table.add_row(utc_text(p.get("createdAt")), _text(p.get("decision")), _move(p, "heatingSetpoint"),
                      _move(p, "coolingSetpoint"), _num(p.get("savingKwh")), _confident(p),
                      "; ".join(str(r) for r in p.get("reasons") or []) or "-")
    _console().print(table)
    if page.get("nextBefore"):
        typer.echo(f"older: tvilling setpoints proposals {name} --before '{page['nextBefore']}'")


@app.command("enable")
def enable(name: Name, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Let an auto loop send its setpoints by itself, within the guards (engineer role)."""
    with connect(url, token) as client:
        loop = client.enable_setpoint_loop(name)
    if as_json:
        emit_json(loop)
        return
    autonomy = loop.get("autonomy") or {}
    typer.echo(f"setpoint loop {loop['name']}: autonomy enabled by {autonomy.get('changedBy')}; it sends its "
               "setpoints by itself while its model is confident (otherwise they wait for an approval)")


@app.command("disable")
def disable(name: Name,
            reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the audit trail).")] = "",
            url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Stop a loop's autonomy: it goes on proposing and sends nothing by itself (operator role)."""
    with connect(url, token) as client:
        loop = client.disable_setpoint_loop(name, reason)
    if as_json:
        emit_json(loop)
        return
    autonomy = loop.get("autonomy") or {}
    why = autonomy.get("suspendedReason") or reason
    typer.echo(f"setpoint loop {loop['name']}: autonomy off" + (f" ({why})" if why else "")
               + "; it goes on proposing and sends nothing by itself")
