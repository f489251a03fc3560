"""``tvilling alarms list|ack|rules`` through the SDK (a running server)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json
from tvilling.cli.remote import AsJson, Token, Url, connect, show

app = typer.Typer(help="Alarms: list, acknowledge, show the rules.", no_args_is_help=True)


@app.command("list")
def list_alarms(
    state: Annotated[list[str] | None, typer.Option("--state", help="active, acknowledged, returned, cleared or "
                                                                    "open (repeatable; default: open).")] = None,
    twin: Annotated[str | None, typer.Option("--twin", help="Only this twin's alarms.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="critical, major, minor or warning.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """List alarms, newest first."""
    with connect(url, token) as client:
        items = client.list_alarms(state=state or ["open"], twin=twin, severity=severity, limit=limit)["value"]
    if as_json:
        emit_json({"value": items})
        return
    table = Table()
    for name in ("id", "severity", "state", "twin", "source", "message", "raised"):
        table.add_column(name, overflow="fold")  # never cut: the id is what `alarms ack` needs
    for a in items:
        table.add_row(a["id"], a["severity"], a["state"], a["twinId"], a["source"], a["message"], a["raisedAt"])
    Console().print(table)


@app.command("ack")
def ack(
    alarm_id: str,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why, or what was done.")] = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Acknowledge an alarm (operator role or above)."""
    with connect(url, token) as client:
        show(client.ack_alarm(alarm_id, comment), as_json)


@app.command("rules")
def rules(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Show the alarm rules in force and any reference problems."""
    with connect(url, token) as client:
        show(client.list_alarm_rules(), as_json)
