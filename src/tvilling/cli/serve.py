"""``tvilling serve``: the platform (API + background services) on one process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from tvilling.cli.output import fail
from tvilling.core.errors import TvillingError


def serve(
    db: Annotated[str | None, typer.Option("--db", help="sqlite:///path (default ./data/tvilling.db) or "
                                                        "postgresql://user@host/db.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port (default 8000).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON settings file.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="durable (default) or fast.")] = None,
) -> None:
    """Start the platform. Refuses to start on a database below the durable profile or at a foreign schema."""
    from tvilling.bootstrap import serve as run
    from tvilling.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(config, db=db, host=host, port=port, profile=profile)
        run(settings)  # the first-start admin token, if any, goes to stderr once
    except TvillingError as exc:
        fail(str(exc))
