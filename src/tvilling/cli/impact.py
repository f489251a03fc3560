"""``tvilling impact show TWIN`` and ``tvilling impact risks``: cascade impact through the twin graph, through the SDK
(a running server with an impact.yaml, viewer role; docs/impact.md).

``show`` says what else stops or slows if the twin stops (with ``--also`` twins failing at the same time), how soon,
along which relationships and what an hour of it costs; ``risks`` ranks the twins with a live RUL estimate by
expected cost (P(failure) x cost per hour x repair hours). With ``--json`` the API's answer as one JSON object.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json
from tvilling.cli.remote import AsJson, Token, Url, connect
from tvilling.simulation.cascade import path_origin

app = typer.Typer(help="Cascade impact: what a twin's stop takes with it, and which likely failures cost most.",
                  no_args_is_help=True)


def _number(value: Any, places: int = 0) -> str:
    """``2 400`` (a space between thousands), ``-`` where there is no number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:,.{places}f}".replace(",", " ")


def _hours(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) and math.isfinite(value) else "-"


def _count(n: int, verb: str) -> str:
    return f"{n} twin {verb}s" if n == 1 else f"{n} twins {verb}"


def _failed(body: dict[str, Any]) -> list[str]:
    return [body["twinId"], *(body.get("also") or [])]


def summary(body: dict[str, Any]) -> str:
    """``If pump-1-bearing stops: 4 twins stop, 0 slow; 2 400/h lost; repair 36 h`` (``If pump-1 and pump-2
    stop: ...`` for several)."""
    effects = [a["effect"] for a in body["affected"]]
    failed = _failed(body)
    who = failed[0] + " stops" if len(failed) == 1 else ", ".join(failed[:-1]) + f" and {failed[-1]} stop"
    return (f"If {who}: {_count(effects.count('stops'), 'stop')}, {effects.count('slows')} slow; "
            f"{_number(body['costPerHour'])}/h lost; repair {_hours(body['repairHours'])} h")


def compact_path(start: str, path: list[str]) -> str:
    """The relationships from the failed twin, as a chain: ``pump-1-bearing <-hasPart- pump-1 -feeds-> filler-1``
    (the arrow points from a relationship's source to its target)."""
    here, out = start, start
    for step in path:
        source, name, target = [*step.split(" "), "", ""][:3]
        if source == here:
            here, out = target, f"{out} -{name}-> {target}"
        elif target == here:
            here, out = source, f"{out} <-{name}- {source}"
        else:  # not a chain (never from this server): say it as it is
            here, out = target, f"{out}; {step}"
    return out


def why(failed: list[str], affected: dict[str, Any]) -> str:
    """The path from the failed twin it starts at (one of several); ``(with pump-1)``: the other stopped sources of
    a k-of-n rule."""
    together = affected.get("with")
    return compact_path(path_origin(failed, affected["path"]), affected["path"]) + (
        f" (with {', '.join(together)})" if together else "")


def affected_table(body: dict[str, Any]) -> Table:
    table = Table(title="what stops with it, then what slows; soonest first")
    for column in ("twin", "effect", "after (min)", "path", "cost/h"):
        table.add_column(column, overflow="fold")
    for a in body["affected"]:
        table.add_row(a["twinId"], a["effect"], _hours(a["afterMin"]), why(_failed(body), a),
                      _number(a["costPerHour"]))
    return table


def risks_table(items: list[dict[str, Any]]) -> Table:
    table = Table(title="likely failures, costliest first")
    for column in ("twin", "P(failure)", "horizon h", "cost/h", "repair h", "expected cost", "what stops"):
        table.add_column(column, overflow="fold")
    for r in items:
        p = r.get("pFailure")
        table.add_row(r["twinId"], f"{_number(100 * p, 1)} %" if isinstance(p, int | float) else "-",
                      _hours(r.get("horizonHours")), _number(r.get("costPerHour")), _hours(r.get("repairHours")),
                      _number(r.get("expectedCost")), ", ".join(r.get("stops") or []) or "-")
    return table


@app.command("show")
def show(twin_id: Annotated[str, typer.Argument(metavar="TWIN", help="The twin that stops (fails).")],
         also: Annotated[list[str] | None, typer.Option(
             "--also", metavar="TWIN", help="Another twin failing at the same time (repeat it, at most 20).")] = None,
         url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """If TWIN stops (with the --also twins, all at once): what else stops or slows, after how many minutes, along
    which relationships, and what an hour of it costs (viewer role; the server's impact.yaml)."""
    with connect(url, token) as client:
        body = client.impact(twin_id, also=also or ())
    if as_json:
        emit_json(body)
        return
    console = Console(markup=False, emoji=False)
    console.print(summary(body))
    if body["affected"]:
        console.print(affected_table(body))
    else:
        console.print("nothing else stops or slows")
    for warning in body.get("warnings") or []:
        console.print(f"warning: {warning}")


@app.command("risks")
def risks(limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many twins.")] = 50,
          url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """The twins with a live RUL estimate, by expected cost: P(failure within the horizon) x the cost per hour of
    what their failure stops x their repair hours (viewer role)."""
    with connect(url, token) as client:
        body = client.impact_risks(limit=limit)
    if as_json:
        emit_json(body)
        return
    console = Console(markup=False, emoji=False)
    if not body["value"]:
        console.print("no twin has a live RUL estimate")
        return
    shown = len(body["value"])
    console.print(f"{body['count']} twin(s) with a live RUL estimate" +
                  (f", the {shown} costliest shown" if shown < body["count"] else ""))
    console.print(risks_table(body["value"]))
