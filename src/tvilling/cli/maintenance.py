"""``tvilling maintenance plan FILE`` (a planning document, offline) and ``tvilling maintenance plan --live`` (the
running server's plan from its planning.yaml and live RUL estimates): when to do each maintenance task so the
expected cost is lowest (docs/maintenance-planning.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, fail
from tvilling.cli.remote import AsJson, Token, Url, connect
from tvilling.core.errors import TvillingError

app = typer.Typer(help="Maintenance planning: the cheapest day for each task, risk and crew considered.",
                  no_args_is_help=True)
Alternatives = Annotated[int, typer.Option("--alternatives", min=0, max=10,
                                           help="other days to list per task, cheapest first")]


@app.command("plan")
def plan(path: Annotated[Path | None, typer.Argument(help="a planning document (YAML or JSON)")] = None,
         live: Annotated[bool, typer.Option("--live", help="the server's plan (planning.yaml + live RUL)")] = False,
         time_limit: Annotated[float, typer.Option("--time-limit", min=0.1, max=3600,
                                                   help="solver time, s (offline)")] = 30.0,
         alternatives: Alternatives = 3, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Plan a document offline, or show the server's live plan (--live)."""
    if (path is None) == (not live):
        fail("give a planning document, or --live for the server's plan")
    not_planned: list[dict[str, Any]] = []
    if live:
        with connect(url, token) as client:
            body: dict[str, Any] = client.maintenance_plan(alternatives=alternatives)
        if not body.get("configured"):
            fail(f"the server has no planning.yaml: {body.get('hint', '')}")
        result, not_planned = body.get("plan"), body.get("notPlanned") or []
    else:
        assert path is not None
        result = _offline(path, time_limit, alternatives)
    if as_json:
        emit_json({"plan": result, "notPlanned": not_planned} if live else result)
        return
    if result is None:
        typer.echo("nothing to plan: " + ("; ".join(f"{n['task']}: {n['reason']}" for n in not_planned)
                                          or "no twin of the planning file's models exists yet"))
        return
    _print(result, not_planned)


@app.command("check")
def check(path: Annotated[Path, typer.Argument(help="the planning.yaml to check")], as_json: AsJson = False) -> None:
    """Check a site's planning.yaml without a server: every problem at once, or what it plans."""
    from tvilling.app.maintenance_planning import load_planning

    try:
        config = load_planning(path)
    except TvillingError as exc:
        problems = "".join(f"\n  {p.where}: {p.message}" for p in exc.problems[1:])
        fail(f"{exc}{problems}")
    rows = [{"task": r["id"], "model": r["model"]} for r in config.rules] + [
        {"task": t.get("id") or t.get("asset"), "asset": t.get("asset") or t.get("id")}
        for t in config.document.get("tasks") or []]
    if as_json:
        emit_json({"tasks": rows, "horizonDays": config.document.get("horizon_days", 90)})
        return
    typer.echo(f"{path}: {len(rows)} task(s) over {config.document.get('horizon_days', 90)} days")
    for r in rows:
        typer.echo(f"  {r['task']}: " + (f"every twin of {r['model']}" if "model" in r else f"on {r['asset']}"))


def _offline(path: Path, time_limit: float, alternatives: int) -> dict[str, Any]:
    from tvilling.app.documents import read_yaml
    from tvilling.optimize.maintenance import solve, windows
    from tvilling.optimize.planning_document import problem_from_dict

    try:
        doc = read_yaml(path, "planning document")
        rules = [i for i, t in enumerate(doc.get("tasks") or [] if isinstance(doc, dict) else [])
                 if isinstance(t, dict) and "model" in t]
        if rules:
            fail(f"{path}: tasks[{rules[0]}] names a model: a site's planning.yaml is planned by the server "
                 "(tvilling maintenance plan --live; check it with tvilling maintenance check)")
        problem = problem_from_dict(doc)
        result = solve(problem, time_limit_s=time_limit)
    except TvillingError as exc:
        problems = "".join(f"\n  {p.where}: {p.message}" for p in exc.problems[1:])
        fail(f"{path}: {exc}{problems}")
    return result.as_dict(windows(result, alternatives) if alternatives else None)


def _print(result: dict[str, Any], not_planned: list[dict[str, Any]]) -> None:
    cost = result["expectedCost"]
    console = Console()
    console.print(f"[bold]{result['status']}[/] plan from {result['start'][:10]} over {result['days']} days "
                  f"({result['solveSeconds']:.2f} s): expected cost {cost['total']:,.0f} = risk {cost['risk']:,.0f} "
                  f"+ preventive {cost['preventive']:,.0f} + planned stops {cost['plannedStops']:,.0f}"
                  + (f" + unused life {cost['unusedLife']:,.0f}" if cost.get("unusedLife") else ""))
    from tvilling.optimize.maintenance import line_text  # here: the CLI starts without the planner's imports

    table = Table("date", "task", "line", "P(fail before)", "risk + prev.", "with", "next best")
    for t in result["tasks"]:
        alt = ", ".join(f"{w['date'][5:]} +{w['extra']:,.0f}" for w in t.get("windows", [])[:1])
        table.add_row(t["date"] or "after horizon", t["title"] or t["task"], line_text(t),
                      f"{t['pFailureBefore']:.1%}" + (" (over limit)" if t["overRisk"] else ""),
                      f"{t['riskCost'] + t['preventiveCost']:,.0f}", ", ".join(t["sharedStopWith"]) or "-",
                      alt or "-")
    console.print(table)
    for v in result["violations"]:
        console.print(f"[red]violation:[/] {v}")
    for n in not_planned:
        console.print(f"not planned: {n['task']}: {n['reason']}")
