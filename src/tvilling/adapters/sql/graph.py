"""The tenant's twin graph in one read, for walks over the whole of it (cascade impact): the relationships with
given names and the model of every twin. Bounded: ``limit`` rows each; the caller learns whether it was reached."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tvilling.adapters.sql.schema import relationships, twins


def named_relationships(conn: Connection, tenant: str, names: Collection[str],
                        limit: int) -> list[tuple[str, str, str]]:
    """(source, name, target) of the tenant's relationships named one of ``names``; at most ``limit`` + 1 rows (one
    more than the limit says it was reached)."""
    r = relationships.c
    stmt = (sa.select(r.source_id, r.name, r.target_id).where(r.tenant == tenant, r.name.in_(list(names)))
            .order_by(r.source_id, r.id).limit(limit + 1))
    return [(a, b, c) for a, b, c in conn.execute(stmt)]


def twin_models(conn: Connection, tenant: str, limit: int) -> dict[str, str]:
    """twin -> model id for the tenant's twins; at most ``limit`` + 1."""
    t = twins.c
    stmt = sa.select(t.id, t.model_id).where(t.tenant == tenant).order_by(t.id).limit(limit + 1)
    return {a: b for a, b in conn.execute(stmt)}
