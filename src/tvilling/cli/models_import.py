"""``tvilling models import PATH…``: upload DTDL files/folders to the server as one batch (through the SDK)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.models import collect_json_files
from tvilling.cli.output import fail
from tvilling.cli.remote import AsJson, Token, Url, connect, show


def import_models(
    paths: Annotated[list[Path], typer.Argument(help="DTDL files or folders (searched recursively for *.json).")],
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Upload DTDL interfaces; the server validates them together with the models it already has."""
    files = collect_json_files(paths)
    if not files:
        fail("no *.json files found")
    documents: list[Any] = []
    for f in files:
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            fail(f"{f}: cannot read JSON: {exc}")
        documents.extend(doc if isinstance(doc, list) else [doc])
    with connect(url, token) as client:
        created = client.upload_models(documents)
    show({"imported": [m["id"] for m in created], "count": len(created)}, as_json)
