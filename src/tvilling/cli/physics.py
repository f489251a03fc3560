"""``tvilling physics check FILE`` (a physics.yaml, offline) and ``tvilling physics status TWIN`` (a running
server): physics models coupled to live twins (docs/physics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.cli.remote import AsJson, Token, Url, connect
from tvilling.core.errors import TvillingError

app = typer.Typer(help="Physics models coupled to live twins: check a physics.yaml, show a twin's coupling.",
                  no_args_is_help=True)


@app.command("check")
def check(path: Annotated[Path, typer.Argument(help="the physics.yaml to check")], as_json: AsJson = False) -> None:
    """Check a physics.yaml without a server: every problem at once, or what each coupling does."""
    from tvilling.app.physics_config import load_config

    try:
        config = load_config(path)
    except TvillingError as exc:
        fail(str(exc))
    rows: list[dict[str, Any]] = [
        {"model": c.model, "fmu": c.fmu, "step": c.step, "inputs": {k: m.property for k, m in c.inputs.items()},
         "outputs": {k: m.property for k, m in c.outputs.items()}, "settleHours": c.settle_hours,
         "referenceHours": c.reference_hours} for c in config.couplings]
    if as_json:
        emit_json({"couplings": rows})
        return
    typer.echo(f"{path}: {len(rows)} coupling(s)")
    for r in rows:
        typer.echo(f"  {r['model']}: {r['fmu']} every {r['step']:g} s; inputs "
                   + (", ".join(f"{k} <- {v}" for k, v in r["inputs"].items()) or "none") + "; compares "
                   + ", ".join(f"{k} with {v}" for k, v in r["outputs"].items())
                   + f"; alerts after {r['settleHours']:g} h settling + {r['referenceHours']:g} h reference")


@app.command("status")
def status(twin_id: Annotated[str, typer.Argument(help="the twin's id")], url: Url = None, token: Token = None,
           as_json: AsJson = False) -> None:
    """A twin's coupled physics model: phase, model time, expected vs measured, open episode."""
    with connect(url, token) as client:
        body: dict[str, Any] = client.twin_physics(twin_id)
    if as_json:
        emit_json(body)
        return
    for line in status_lines(twin_id, body):
        typer.echo(line)


def status_lines(twin_id: str, body: dict[str, Any]) -> list[str]:
    """``GET /api/v1/twins/{id}/physics`` as the lines ``physics status`` prints."""
    if not body["coupled"]:
        return [f"{twin_id}: no physics model is coupled to its model (physics.yaml)"]
    live, spec = body["live"], body["coupling"]
    if live is None:
        return [f"{twin_id}: coupled to {spec['fmu']}; not running yet (it starts with the twin's next reading)"]
    ref = live["reference"]
    lines = [f"{twin_id}: {live['phase']} — {spec['fmu']} at {live['modelTime'] or 'not started'}, reference "
             f"{ref['learned']}/{ref['rows']} steps, {live['steps']} steps, {live['restarts']} restart(s)"]
    for prop, o in (live.get("outputs") or {}).items():
        ratio = "learning" if o["ratio"] is None else f"{o['ratio']:.2f}× the limit"
        lines.append(f"  {prop}: expected {_num(o['expected'])}, measured {_num(o['measured'])}, residual "
                     f"{_num(o['residual'])} ({ratio})")
    if live.get("episode"):
        lines.append(f"  episode since {live['episode']['since']}: {', '.join(live['episode']['signals'])}")
    if live.get("error"):
        lines.append(f"  last error: {live['error']}")
    return lines


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"
