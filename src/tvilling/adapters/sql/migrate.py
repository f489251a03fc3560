"""Schema migrations through Alembic's programmatic API (scripts are packaged in ``migrations/``).

``upgrade`` runs every pending revision in ONE transaction on the given engine (SQLite and PostgreSQL both have
transactional DDL), so a failed start leaves the schema as it was. ``check_version`` refuses to serve a database
whose revision is not this code's head (older without auto-migration, or newer/unknown: written by a later
release).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from tvilling.adapters.sql.engine import WRITE_OPTION
from tvilling.core.errors import ConfigurationError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    cfg = _config()
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def check_version(engine: Engine, *, auto_migrate: bool) -> str:
    """Bring the schema to head (when allowed) and return the revision; refuse anything else."""
    head = head_revision()
    current = current_revision(engine)
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current is not None and current not in known:
        raise ConfigurationError(
            f"the database schema is at revision {current!r}, unknown to this version (head {head!r})",
            hint="it was written by a newer Tvilling; upgrade Tvilling or use another database",
        )
    if current != head:
        if not auto_migrate:
            raise ConfigurationError(
                f"the database schema is at revision {current!r}, this version needs {head!r}",
                hint="start with auto-migration enabled (TVILLING_AUTO_MIGRATE=true) to upgrade it",
            )
        upgrade(engine)
        current = current_revision(engine)
    if current != head:  # pragma: no cover - defensive: upgrade succeeded but did not reach head
        raise ConfigurationError(f"schema upgrade ended at {current!r}, expected {head!r}")
    return head
