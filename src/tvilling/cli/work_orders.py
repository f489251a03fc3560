"""``tvilling work-orders list|show|create|approve|reject|complete|cancel|policy|mode`` through the SDK (a running
server).

Reads need a viewer token; create and the actions need an operator token (see docs/work-orders.md). ``mode`` caps
the tenant's policy mode at run time (``off`` is the kill switch): operators lower it, raising it needs engineer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.json import JSON
from rich.table import Table

from tvilling.cli.output import emit_json
from tvilling.cli.remote import AsJson, Token, Url, connect

app = typer.Typer(help="Maintenance work orders: list, show, create, approve, reject, complete, cancel, policy, "
                       "mode.", no_args_is_help=True)

Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why, or what was done.")]


def _console() -> Console:
    return Console(markup=False, emoji=False)  # titles and comments are people's text: "[x]" is not a style


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _minute(value: str | None) -> str:
    """An API time (ISO, with a zone) as ``YYYY-MM-DD HH:MM`` in UTC, for a compact table."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


@app.command("list")
def list_orders(
    state: Annotated[list[str] | None, typer.Option("--state", help="proposed, open, done, rejected, cancelled or "
                                                                    "live (repeatable; default: live).")] = None,
    twin: Annotated[str | None, typer.Option("--twin", help="Only this twin's work orders.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """List work orders, newest first."""
    with connect(url, token) as client:
        items = client.list_work_orders(state=state or ["live"], twin=twin, limit=limit)["value"]
    if as_json:
        emit_json({"value": items})
        return
    table = Table()
    table.add_column("id", no_wrap=True, overflow="fold")  # never cut, kept whole: `work-orders approve` needs it
    for name in ("priority", "state", "twin", "title", "due (UTC)", "created (UTC)", "by"):
        table.add_column(name, overflow="fold")
    for o in items:
        table.add_row(o["id"], o["priority"], o["state"], o["twinId"], o["title"], _minute(o["dueBy"]),
                      _minute(o["createdAt"]), o["createdBy"])
    _console().print(table)


@app.command("show")
def show_order(order_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """One work order with its evidence and transitions."""
    with connect(url, token) as client:
        order = client.get_work_order(order_id)
    if as_json:
        emit_json(order)
        return
    console = _console()
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    for label, key in (("id", "id"), ("title", "title"), ("state", "state"), ("priority", "priority"),
                       ("twin", "twinId"), ("mode", "mode"), ("rule", "ruleId"), ("reason", "reason"),
                       ("due", "dueBy"), ("created", "createdAt"), ("created by", "createdBy"),
                       ("updated", "updatedAt"), ("closed", "closedAt"), ("closed by", "closedBy"),
                       ("comment", "comment"), ("description", "description")):
        fields.add_row(label, _text(order.get(key)))
    console.print(fields)
    if order.get("evidence"):
        console.print("\nevidence", style="bold")
        console.print(JSON.from_data(order["evidence"]))
    transitions = Table(title="transitions", title_justify="left")
    for name in ("time", "kind", "state", "actor", "comment"):
        transitions.add_column(name, overflow="fold")
    for t in order.get("transitions", []):
        transitions.add_row(t["time"], t["kind"], t["state"], t["actor"], _text(t.get("comment")))
    console.print(transitions)


@app.command("create")
def create(
    twin: Annotated[str, typer.Option("--twin", help="The twin the work is on.")],
    title: Annotated[str, typer.Option("--title", help="What is to be done.")],
    priority: Annotated[str, typer.Option("--priority", help="low, medium, high or urgent.")] = "medium",
    description: Annotated[str, typer.Option("--description", help="Details for maintenance.")] = "",
    due: Annotated[str | None, typer.Option("--due", help="Done by, ISO time with a zone "
                                                          "(e.g. 2026-12-01T08:00:00Z).")] = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Create a work order by hand (operator role or above); it is released (open) at once."""
    with connect(url, token) as client:
        order = client.create_work_order(twin, title, priority=priority, description=description, due_by=due)
    _done(order, as_json, "created")


def _act(action: str, verb: str, order_id: str, comment: str | None, url: str | None, token: str | None,
         as_json: bool) -> None:
    with connect(url, token) as client:
        order = client.act_on_work_order(order_id, action, comment)
    _done(order, as_json, verb)


def _done(order: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(order)
    else:
        typer.echo(f"work order {order['id']} {verb}: now {order['state']} (twin {order['twinId']})")


ACTIONS = {  # action -> (past tense, help)
    "approve": ("approved", "Approve a proposed work order: it is released (open) to maintenance (operator or above)."),
    "reject": ("rejected", "Reject a proposed work order (operator role or above)."),
    "complete": ("completed", "Complete an open work order (operator role or above)."),
    "cancel": ("cancelled", "Cancel a proposed or open work order (operator role or above)."),
}


def _register(action: str, verb: str, doc: str) -> None:
    def command(order_id: str, comment: Comment = None, url: Url = None, token: Token = None,
                as_json: AsJson = False) -> None:
        _act(action, verb, order_id, comment, url, token, as_json)

    command.__doc__ = doc
    app.command(action)(command)


for _action, (_verb, _doc) in ACTIONS.items():
    _register(_action, _verb, _doc)


def _mode_detail(view: dict[str, Any]) -> str:
    """Where the effective mode comes from: the rules file's mode and the tenant's cap (who set it, when, why)."""
    parts = [f"file: {_text(view.get('fileMode'))}"]
    cap = view.get("tenantMode")
    if cap is None:
        parts.append("no tenant cap")
    else:
        by = f"set by {_text(view.get('modeChangedBy'))} at {_minute(view.get('modeChangedAt'))} UTC"
        comment = " ".join(str(view.get("modeComment") or "").split())  # people's text: kept on one line
        parts.append((f"tenant cap: {cap}, " if cap != view.get("mode") else "") + by +
                     (f': "{comment}"' if comment else ""))
    return "; ".join(parts)


@app.command("mode")
def mode(
    new_mode: Annotated[str, typer.Argument(metavar="off|approve|auto", help="off stops the policy (the kill "
                                            "switch); approve makes every rule propose; auto lets rules release.")],
    comment: Comment = None, url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Cap this tenant's work-order mode at run time: operators may lower it (auto -> approve -> off), raising it
    needs engineer. The rules file's mode still caps it: the stricter of the two is in force."""
    with connect(url, token) as client:
        view = client.set_work_order_mode(new_mode, comment)
    if as_json:
        emit_json(view)
    else:
        typer.echo(f"work-order mode for this tenant: {view['mode']} ({_mode_detail(view)})")


@app.command("policy")
def policy(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """The work-order rules and guardrails in force, with the server's counters."""
    with connect(url, token) as client:
        view = client.get_work_order_policy()
    if as_json:
        emit_json(view)
        return
    console = _console()
    console.print(f"mode: {view['mode']} ({_mode_detail(view)})", soft_wrap=True)
    console.print(f"daily limit: {view['maxAutoPerDay']} released automatically    "
                  f"released automatically in the last 24 h: {view['autoReleasedLast24h']}    "
                  f"rules file: {_text(view.get('file'))}", soft_wrap=True)
    rules = Table(title="rules", title_justify="left")
    for name in ("id", "model", "trigger", "p(failure)", "mode", "priority", "cool-down (h)", "title"):
        rules.add_column(name, overflow="fold")
    for r in view["rules"]:
        rules.add_row(r["id"], r["model"], r["trigger"], _text(r.get("pFailure")), r["mode"], r["priority"],
                      _text(r.get("cooldownHours")), r["title"])
    console.print(rules)
    stats = view.get("stats", {})
    console.print("counters: " + ", ".join(f"{k} {stats[k]}" for k in
                                            ("triggers", "created", "released", "proposed", "suppressed")
                                            if k in stats), soft_wrap=True)
    for where, why in stats.get("lastSuppressed", {}).items():
        console.print(f"  last suppressed {where}: {why}", soft_wrap=True)
