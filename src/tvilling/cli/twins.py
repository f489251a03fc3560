"""``tvilling twins get|create|patch|delete|list`` through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tvilling.cli.output import fail
from tvilling.cli.remote import AsJson, Token, Url, connect, load_json_arg, parse_assignments, show

app = typer.Typer(help="Digital twins: get, create, patch, delete, list.", no_args_is_help=True)


@app.command("get")
def get(twin_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Show one twin."""
    with connect(url, token) as client:
        show(client.get_twin(twin_id), as_json)


@app.command("create")
def create(
    twin_id: str,
    model: Annotated[str | None, typer.Option("--model", "-m", help="DTMI of the twin's model.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Property NAME=VALUE (JSON or text).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Twin JSON document.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the twin if it exists.")] = False,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Create a twin from --model and --set values, or from a JSON --file."""
    if file is not None:
        body = load_json_arg(None, file, "twin")
        if not isinstance(body, dict):
            fail("the twin file must hold a JSON object")
        if model:
            body.setdefault("$metadata", {})["$model"] = model
    else:
        if not model:
            fail("give --model DTMI (or --file twin.json)")
        body = {"$metadata": {"$model": model}, **parse_assignments(set_ or [])}
    with connect(url, token) as client:
        show(client.create_twin(twin_id, body, replace=replace), as_json)


@app.command("patch")
def patch(
    twin_id: str,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Set property NAME=VALUE (path a/b for a "
                                                                "component property).")] = None,
    ops: Annotated[str | None, typer.Option("--patch", help="A JSON Patch document (array).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="JSON Patch file.")] = None,
    etag: Annotated[str | None, typer.Option("--if-match", help="Only if the twin still has this ETag.")] = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Update a twin with --set NAME=VALUE or a JSON Patch (--patch / --file)."""
    if set_:
        if ops is not None or file is not None:
            fail("use either --set or a JSON Patch, not both")
        document = [{"op": "add", "path": "/" + name, "value": value}
                    for name, value in parse_assignments(set_).items()]
    else:
        document = load_json_arg(ops, file, "JSON Patch")
    with connect(url, token) as client:
        show(client.patch_twin(twin_id, document, etag=etag), as_json)


@app.command("delete")
def delete(twin_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Delete a twin (refused while it has relationships)."""
    with connect(url, token) as client:
        client.delete_twin(twin_id)
    show({"deleted": twin_id}, as_json)


@app.command("list")
def list_(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only twins of this model (or extending it).")
                     ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many twins.")] = 1000,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """List twins."""
    with connect(url, token) as client:
        twins = []
        for twin in client.iter_twins(model=model):
            twins.append(twin)
            if len(twins) >= limit:
                break
    show({"twins": twins, "count": len(twins)}, as_json)
