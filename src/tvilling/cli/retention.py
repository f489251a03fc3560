"""``tvilling retention run``: one retention pass on the database directly (no server needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

app = typer.Typer(help="Time-series retention.", no_args_is_help=True)


@app.command("run")
def run(
    raw_days: Annotated[float | None, typer.Option("--raw-days", min=0.0,
                                                   help="Raw samples: days kept (0 = forever).")] = None,
    rollup_1m_days: Annotated[float | None, typer.Option("--rollup-1m-days", min=0.0,
                                                         help="1-minute rollups: days kept.")] = None,
    rollup_1h_days: Annotated[float | None, typer.Option("--rollup-1h-days", min=0.0,
                                                         help="1-hour rollups: days kept.")] = None,
    quarantine_days: Annotated[float | None, typer.Option("--quarantine-days", min=0.0,
                                                          help="Quarantine: days kept.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: as `tvilling serve`).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON settings file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Delete history older than its keep time (TVILLING_RETENTION_* settings, or the options), in batches."""
    from tvilling.app.retention import RetentionPolicy, run_pass
    from tvilling.bootstrap import open_store
    from tvilling.ports.clock import SystemClock
    from tvilling.settings import load_settings

    try:
        settings = load_settings(config, db=db, retention_raw_days=raw_days, retention_rollup_1m_days=rollup_1m_days,
                                 retention_rollup_1h_days=rollup_1h_days, retention_quarantine_days=quarantine_days)
        policy = RetentionPolicy.from_settings(settings)
        store, _info = open_store(settings)
        try:
            deleted = run_pass(store.engine, policy, SystemClock().now())
        finally:
            store.dispose()
    except TvillingError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"deleted": deleted})
    else:
        typer.echo(", ".join(f"{k}: {v} rows deleted" for k, v in deleted.items()) or "nothing configured to expire")
