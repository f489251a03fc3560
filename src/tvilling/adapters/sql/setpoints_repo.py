"""Setpoint loops on one connection: autonomy state per loop, proposals newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema_setpoints import setpoint_loops, setpoint_proposals
from tvilling.ports.documents import iso


@dataclass(frozen=True, slots=True)
class LoopState:
    name: str
    enabled: bool
    suspended_reason: str | None
    changed_at: datetime | None  # None: never enabled
    changed_by: str | None
    failures: int = 0  # setpoint commands failed or expired in a row (as of the last decision)

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "suspendedReason": self.suspended_reason,
                "changedAt": iso(self.changed_at) if self.changed_at is not None else None,
                "changedBy": self.changed_by, "failures": self.failures}


class SqlSetpointRepo:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def state(self, tenant: str, name: str) -> LoopState | None:
        c = setpoint_loops.c
        row = self.conn.execute(select(setpoint_loops).where(c.tenant == tenant, c.name == name)).first()
        return None if row is None else LoopState(row.name, bool(row.enabled), row.suspended_reason,
                                                  aware(row.changed_at), row.changed_by, int(row.failures))

    def put(self, tenant: str, state: LoopState) -> None:
        c = setpoint_loops.c
        values = {"enabled": state.enabled, "suspended_reason": state.suspended_reason,
                  "changed_at": state.changed_at, "changed_by": state.changed_by, "failures": state.failures}
        done = self.conn.execute(update(setpoint_loops).where(c.tenant == tenant, c.name == state.name)
                                 .values(**values))
        if not done.rowcount:
            self.conn.execute(insert(setpoint_loops).values(tenant=tenant, name=state.name, **values))

    def add(self, tenant: str, body: dict[str, Any], at: datetime, created_at: datetime) -> None:
        self.conn.execute(insert(setpoint_proposals).values(
            tenant=tenant, id=body["id"], loop=body["loop"], at=at, created_at=created_at,
            decision=body["decision"], body=json.dumps(body, separators=(",", ":"), allow_nan=False)))

    def proposals(self, tenant: str, loop: str, *, limit: int = 50,
                  before: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        """Newest first; ``before`` = (createdAt, id) of the last one of the previous page."""
        c = setpoint_proposals.c
        q = select(c.body).where(c.tenant == tenant, c.loop == loop)
        if before is not None:
            q = q.where((c.created_at < before[0]) | ((c.created_at == before[0]) & (c.id < before[1])))
        rows = self.conn.execute(q.order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        return [json.loads(r[0]) for r in rows]

    def decision_counts(self, tenant: str) -> dict[str, dict[str, int]]:
        """Loop -> decision -> how many proposals."""
        c = setpoint_proposals.c
        out: dict[str, dict[str, int]] = {}
        for loop, decision, count in self.conn.execute(select(c.loop, c.decision, func.count())
                                                       .where(c.tenant == tenant).group_by(c.loop, c.decision)):
            out.setdefault(loop, {})[decision] = int(count)
        return out

    def prune(self, tenant: str, loop: str, keep: int) -> int:
        """Delete all but the newest ``keep`` proposals of a loop; returns how many went."""
        c = setpoint_proposals.c
        cut = self.conn.execute(select(c.created_at).where(c.tenant == tenant, c.loop == loop)
                                .order_by(c.created_at.desc()).offset(keep).limit(1)).first()
        if cut is None:
            return 0
        done = self.conn.execute(delete(setpoint_proposals).where(c.tenant == tenant, c.loop == loop,
                                                                  c.created_at <= cut[0]))
        return int(done.rowcount or 0)
