"""``tvilling token create --role R [--tenant T] [--db URL]``: works directly on the database and prints the new
token once (it is not stored; only its SHA-256 is)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", help="viewer, operator, engineer or admin.")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id (created if missing).")] = "default",
    name: Annotated[str, typer.Option("--name", help="A label for the token.")] = "",
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: as `tvilling serve`).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON settings file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an API token and print it once."""
    from tvilling.app.auth import TokenService, parse_role
    from tvilling.bootstrap import open_store
    from tvilling.ports.clock import SystemClock
    from tvilling.settings import load_settings

    try:
        settings = load_settings(config, db=db)
        store, _info = open_store(settings)
        try:
            issued = TokenService(store, SystemClock()).create(tenant, parse_role(role), name)
        finally:
            store.dispose()
    except TvillingError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"token": issued.token, "id": issued.id, "tenant": issued.tenant, "role": issued.role.value})
    else:
        typer.echo(issued.token)
