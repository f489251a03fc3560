"""Work orders and their transitions on SQLAlchemy Core (SQLite and PostgreSQL alike).

Used inside a store transaction (``store.write()``/``store.read()`` hand out ``tx.conn``), so a work order's row,
its transition and its ``workorder.*`` event commit together.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema_work_orders import work_order_settings, work_order_transitions, work_orders
from tvilling.policy.work_orders import LIVE_STATES, WorkOrder, iso


def _maybe(t: datetime | None) -> datetime | None:
    return aware(t) if t is not None else None


def _row(o: WorkOrder) -> dict[str, Any]:
    return {"tenant": o.tenant, "id": o.id, "twin_id": o.twin_id, "rule_id": o.rule_id, "title": o.title,
            "description": o.description, "priority": o.priority, "state": o.state, "mode": o.mode,
            "reason": o.reason, "evidence": o.evidence, "due_by": o.due_by, "created_at": o.created_at,
            "created_by": o.created_by, "updated_at": o.updated_at or o.created_at, "closed_at": o.closed_at,
            "closed_by": o.closed_by, "comment": o.comment}


def _order(r: Any) -> WorkOrder:
    return WorkOrder(id=r.id, tenant=r.tenant, twin_id=r.twin_id, title=r.title, created_at=aware(r.created_at),
                     created_by=r.created_by, state=r.state, priority=r.priority, mode=r.mode, rule_id=r.rule_id,
                     reason=r.reason, description=r.description, due_by=_maybe(r.due_by),
                     evidence=dict(r.evidence or {}), updated_at=_maybe(r.updated_at), closed_at=_maybe(r.closed_at),
                     closed_by=r.closed_by, comment=r.comment)


class SqlWorkOrderRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def save(self, order: WorkOrder, *, new: bool, expected_state: str | None = None) -> bool:
        """Insert, or update the row (only while it is in ``expected_state``, if given). False: nothing updated."""
        row = _row(order)
        if new:
            self.conn.execute(sa.insert(work_orders), [row])
            return True
        c = work_orders.c
        query = sa.update(work_orders).where(c.tenant == order.tenant, c.id == order.id)
        if expected_state is not None:
            query = query.where(c.state == expected_state)
        result = self.conn.execute(query.values({k: v for k, v in row.items() if k not in ("tenant", "id")}))
        return bool(result.rowcount)

    def add_transition(self, order: WorkOrder, kind: str, time: datetime, actor: str, context_id: str,
                       parent_id: str | None, comment: str | None = None) -> None:
        self.conn.execute(sa.insert(work_order_transitions), [{
            "tenant": order.tenant, "work_order_id": order.id, "kind": kind, "state": order.state, "time": time,
            "actor": actor, "comment": comment, "context_id": context_id, "parent_id": parent_id}])

    def get(self, tenant: str, order_id: str) -> WorkOrder | None:
        c = work_orders.c
        r = self.conn.execute(sa.select(work_orders).where(c.tenant == tenant, c.id == order_id)).first()
        return _order(r) if r is not None else None

    def live(self, tenant: str, twin_id: str, rule_id: str) -> WorkOrder | None:
        """The proposed or open work order of (twin, rule), if any."""
        c = work_orders.c
        r = self.conn.execute(sa.select(work_orders).where(
            c.tenant == tenant, c.twin_id == twin_id, c.rule_id == rule_id, c.state.in_(LIVE_STATES))
            .order_by(c.created_at.desc()).limit(1)).first()
        return _order(r) if r is not None else None

    def last_closed_at(self, tenant: str, twin_id: str, rule_id: str) -> datetime | None:
        c = work_orders.c
        value = self.conn.execute(sa.select(sa.func.max(c.closed_at)).where(
            c.tenant == tenant, c.twin_id == twin_id, c.rule_id == rule_id)).scalar_one_or_none()
        return _maybe(value)

    def released_since(self, tenant: str, since: datetime) -> int:
        """Work orders released automatically (mode auto) since ``since``."""
        c = work_orders.c
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(work_orders).where(
            c.tenant == tenant, c.mode == "auto", c.created_at >= since)).scalar_one())

    def list(self, tenant: str, *, states: Sequence[str] | None = None, twin: str | None = None,
             limit: int = 100) -> builtins.list[WorkOrder]:
        """Newest first."""
        c = work_orders.c
        query = sa.select(work_orders).where(c.tenant == tenant)
        if states is not None:
            query = query.where(c.state.in_(list(states)))
        if twin is not None:
            query = query.where(c.twin_id == twin)
        query = query.order_by(c.created_at.desc(), c.id).limit(limit)
        return [_order(r) for r in self.conn.execute(query)]

    def transitions(self, tenant: str, order_id: str) -> builtins.list[dict[str, Any]]:
        t = work_order_transitions.c
        rows = self.conn.execute(sa.select(work_order_transitions).where(
            t.tenant == tenant, t.work_order_id == order_id).order_by(t.seq))
        return [{"kind": r.kind, "state": r.state, "time": iso(aware(r.time)), "actor": r.actor,
                 "comment": r.comment, "context": {"id": r.context_id, "parent_id": r.parent_id}} for r in rows]

    def mode_setting(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's cap on the policy mode: {"mode", "updated_at", "updated_by", "comment"}, or None."""
        c = work_order_settings.c
        r = self.conn.execute(sa.select(work_order_settings).where(c.tenant == tenant)).first()
        if r is None:
            return None
        return {"mode": r.mode, "updated_at": aware(r.updated_at), "updated_by": r.updated_by, "comment": r.comment}

    def set_mode(self, tenant: str, mode: str, when: datetime, actor: str, comment: str | None) -> None:
        c = work_order_settings.c
        values = {"mode": mode, "updated_at": when, "updated_by": actor, "comment": comment}
        if self.conn.execute(sa.update(work_order_settings).where(c.tenant == tenant).values(values)).rowcount == 0:
            self.conn.execute(sa.insert(work_order_settings), [{"tenant": tenant, **values}])
