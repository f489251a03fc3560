"""A twin's live remaining-useful-life estimate, as the maintenance planner and cascade impact's risk ranking read
it (its own module: cascade impact and the planner use each other's answers, and neither may import the other's
module for this)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql import schema
from tvilling.optimize.planning_document import parse_time


def latest_rul(engine: Any, tenant: str, twin: str) -> tuple[datetime, dict[str, Any]] | None:
    """The twin's newest RUL estimate, unless its episode has been cleared since (the monitor forgets its RUL
    then: a repaired or recovered asset has no estimate; a physics model's episodes do not count)."""
    e = schema.events.c
    query = (sa.select(e.kind, e.data).where(e.tenant == tenant, e.subject == twin,
                                              e.kind.in_(("insight.rul", "insight.cleared")))
             .order_by(e.seq.desc()).limit(20))
    with engine.connect() as conn:
        for row in conn.execute(query):
            data = row.data if isinstance(row.data, dict) else {}
            if row.kind == "insight.cleared":
                if data.get("detector") == "physics":
                    continue
                return None
            return (parse_time(data["at"], "at"), dict(data)) if data.get("at") else None
    return None
