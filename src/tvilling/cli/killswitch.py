"""``tvilling killswitch status|engage|release`` through the SDK (see docs/commands.md, "Kill switch").

An engaged kill switch refuses every new command for its scope (the whole tenant, or one twin with ``--twin``) and
cancels those not yet sent. Engaging needs the operator role (anyone who may send a command may stop them all);
releasing needs engineer; status, viewer.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, utc_text
from tvilling.cli.remote import AsJson, Token, Url, connect

app = typer.Typer(help="The kill switch for commands: status, engage, release.", no_args_is_help=True)

TENANT_WIDE = "*"
Twin = Annotated[str | None, typer.Option("--twin", help="Only this twin (default: the whole tenant).")]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the switch and in the audit trail).")]


def _scope(twin: str | None) -> str:
    return twin if twin else TENANT_WIDE


def _where(scope: str) -> str:
    return "the whole tenant" if scope == TENANT_WIDE else f"twin {scope}"



@app.command("status")
def status(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """The engaged kill switches (none: commands may be sent)."""
    with connect(url, token) as client:
        items: list[Any] = list(client.kill_switches()["value"])
    if as_json:
        emit_json({"value": items, "count": len(items)})
        return
    if not items:
        typer.echo("no kill switch is engaged")
        return
    table = Table()
    for name in ("scope", "engaged (UTC)", "by", "reason"):
        table.add_column(name, overflow="fold")
    for k in items:
        table.add_row(_where(k["scope"]), utc_text(k.get("engagedAt")), str(k.get("actor") or "-"),
                      str(k.get("reason") or "-"))
    Console(markup=False, emoji=False).print(table)


@app.command("engage")
def engage(twin: Twin = None, reason: Reason = "", url: Url = None, token: Token = None,
           as_json: AsJson = False) -> None:
    """Stop commands: refuse new ones for the tenant (or --twin) and cancel those not yet sent (operator role)."""
    scope = _scope(twin)
    with connect(url, token) as client:
        switch = client.engage_kill_switch(scope, reason)
    if as_json:
        emit_json(switch)
        return
    canceled = int(switch.get("canceled") or 0)
    typer.echo(f"kill switch engaged for {_where(scope)} (since {utc_text(switch.get('engagedAt'))} UTC, by "
               f"{switch.get('actor')}); {canceled} open command(s) canceled")


@app.command("release")
def release(twin: Twin = None, reason: Reason = "", url: Url = None, token: Token = None,
            as_json: AsJson = False) -> None:
    """Allow commands again for the tenant (or --twin) (engineer role)."""
    scope = _scope(twin)
    with connect(url, token) as client:
        switch = client.release_kill_switch(scope, reason)
    if as_json:
        emit_json(switch)
        return
    typer.echo(f"kill switch released for {_where(scope)} (it was engaged since {utc_text(switch.get('engagedAt'))} "
               f"UTC by {switch.get('actor')})")
