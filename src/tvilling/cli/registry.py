"""``tvilling registry list|show|promote|rollback``: the model registry of a running server, through the SDK.

Promote and roll back need an engineer token; reads need a viewer token.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json
from tvilling.cli.remote import AsJson, Token, Url, connect, show

app = typer.Typer(help="Model registry: list, show, promote, roll back.", no_args_is_help=True)


def _metric_text(metrics: Any) -> str:
    if not isinstance(metrics, dict):
        return ""
    flat = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return ", ".join(f"{k}={v:.4g}" for k, v in list(flat.items())[:4])


@app.command("list")
def list_models(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Every registered model of the tenant: kind, versions, latest and production version."""
    with connect(url, token) as client:
        items = client.list_ml_models()["value"]
    if as_json:
        emit_json({"value": items})
        return
    table = Table("name", "kind", "versions", "latest", "production")
    for item in items:
        table.add_row(str(item["name"]), str(item["kind"]), str(item["versions"]), str(item["latest_version"]),
                      str(item["production_version"] or "-"))
    Console().print(table)


@app.command("show")
def show_model(
    name: str,
    version: Annotated[int | None, typer.Option("--version", "-v", help="One version's metadata.")] = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """A model's versions (stage, metrics, lineage), or one version with --version."""
    with connect(url, token) as client:
        if version is not None:
            show(client.get_ml_model_version(name, version), as_json)
            return
        versions = client.list_ml_model_versions(name)["value"]
    if as_json:
        emit_json({"name": name, "versions": versions})
        return
    table = Table("version", "stage", "created (UTC)", "by", "reason", "parent", title=name)
    table.add_column("metrics", overflow="fold")  # never cut the numbers on a narrow terminal
    for v in versions:
        lineage = v.get("lineage") or {}
        table.add_row(str(v["version"]), v["stage"], str(v["created_at"])[:16].replace("T", " "), v["created_by"],
                      str(lineage.get("reason", "")), str(lineage.get("parent_version") or "-"),
                      _metric_text(v.get("metrics")))
    Console().print(table)


@app.command("promote")
def promote(name: str, version: int, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Make VERSION the production version of NAME (the previous one is archived)."""
    with connect(url, token) as client:
        result = client.promote_ml_model(name, version)
    _done(result, as_json, "promoted")


@app.command("rollback")
def rollback(name: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Re-promote the version that the current production version of NAME replaced."""
    with connect(url, token) as client:
        result = client.rollback_ml_model(name)
    _done(result, as_json, "rolled back to")


def _done(result: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(result)
    else:
        typer.echo(f"{result['name']}: {verb} version {result['version']} (stage {result['stage']})")
