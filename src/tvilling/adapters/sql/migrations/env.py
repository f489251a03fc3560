"""Alembic environment: always run programmatically by ``tvilling.adapters.sql.migrate`` on a connection it owns,
inside the caller's transaction, so the whole upgrade commits or rolls back as one unit."""

from __future__ import annotations

from alembic import context

from tvilling.adapters.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic command line
    raise RuntimeError("run migrations through tvilling.adapters.sql.migrate, which passes a connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  transaction_per_migration=False)
context.run_migrations()
