"""``tvilling models …`` (placeholder: filled by the DTDL work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="DTDL models: check and import.", no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Validate DTDL files or folders as one model set."""
