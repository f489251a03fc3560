"""``tvilling query "SELECT …"`` through the SDK."""

from __future__ import annotations

from typing import Annotated

import typer

from tvilling.cli.remote import AsJson, Token, Url, connect, show


def query(
    text: Annotated[str, typer.Argument(help='An ADT query, e.g. "SELECT * FROM DIGITALTWINS".')],
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 10_000,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Run a query over the twin graph."""
    with connect(url, token) as client:
        rows = client.query(text, limit=limit)
    show({"value": rows, "count": len(rows)}, as_json)
