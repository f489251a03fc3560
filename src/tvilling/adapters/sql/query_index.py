"""Expression indexes on twin properties, spelled exactly as the query compiler spells property access.

A filter such as ``T.serial = 'SN-1'`` can only use an index whose expression is textually the same as the
compiled one (``json_extract(contents, '$."serial"')`` on SQLite, ``(contents #> '{serial}')`` on PostgreSQL),
so index creation lives next to the compiler instead of in hand-written DDL.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from tvilling.adapters.sql.query_expr import pg_path, sqlite_path
from tvilling.core.errors import ValidationError

_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def property_index_ddl(dialect: str, path: str, *, name: str | None = None) -> str:
    """``CREATE INDEX`` for the twin property at dotted ``path`` (e.g. ``"thermostat.setpoint"``)."""
    parts = tuple(path.split("."))
    if not all(_PART.match(p) for p in parts):
        raise ValidationError(f"cannot index property path {path!r}: use letters, digits and '_' separated by '.'")
    index = name or "ix_twins_prop_" + "_".join(parts).lower()
    if dialect == "sqlite":
        expr = f"json_extract(contents, '{sqlite_path(parts)}')"
    elif dialect == "postgresql":
        expr = f"(contents #> '{pg_path(parts)}')"
    else:
        raise ValidationError(f"property indexes are not available on the {dialect!r} backend")
    return f"CREATE INDEX IF NOT EXISTS {index} ON twins (tenant, {expr})"


def create_property_index(conn: sa.Connection, path: str, *, name: str | None = None) -> None:
    conn.execute(sa.text(property_index_ddl(conn.dialect.name, path, name=name)))
