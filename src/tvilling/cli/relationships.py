"""``tvilling relationships list|incoming|get|create|delete`` through the SDK."""

from __future__ import annotations

from typing import Annotated

import typer

from tvilling.cli.remote import AsJson, Token, Url, connect, parse_assignments, show

app = typer.Typer(help="Relationships between twins.", no_args_is_help=True)


@app.command("list")
def list_(twin_id: str,
          name: Annotated[str | None, typer.Option("--name", help="Only relationships with this name.")] = None,
          url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Outgoing relationships of a twin."""
    with connect(url, token) as client:
        items, continuation = [], None
        while True:
            page = client.list_relationships_page(twin_id, name=name, continuation=continuation)
            items.extend(page["value"])
            continuation = page.get("continuationToken")
            if not continuation:
                break
    show({"relationships": items, "count": len(items)}, as_json)


@app.command("incoming")
def incoming(twin_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Relationships pointing at a twin."""
    with connect(url, token) as client:
        items, continuation = [], None
        while True:
            page = client.list_incoming_page(twin_id, continuation=continuation)
            items.extend(page["value"])
            continuation = page.get("continuationToken")
            if not continuation:
                break
    show({"relationships": items, "count": len(items)}, as_json)


@app.command("get")
def get(twin_id: str, rel_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """One relationship."""
    with connect(url, token) as client:
        show(client.get_relationship(twin_id, rel_id), as_json)


@app.command("create")
def create(
    twin_id: str, rel_id: str,
    target: Annotated[str, typer.Option("--target", "-t", help="Target twin id.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Relationship name in the source twin's model.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Property NAME=VALUE.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace it if it exists.")] = False,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Create a relationship TWIN --name--> TARGET with id REL_ID."""
    with connect(url, token) as client:
        show(client.create_relationship(twin_id, rel_id, target, name, parse_assignments(set_ or []),
                                        replace=replace), as_json)


@app.command("delete")
def delete(twin_id: str, rel_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Delete a relationship."""
    with connect(url, token) as client:
        client.delete_relationship(twin_id, rel_id)
    show({"deleted": rel_id, "source": twin_id}, as_json)
