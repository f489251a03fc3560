"""Alarm instances and their transitions on SQLAlchemy Core (SQLite and PostgreSQL alike).

Used inside a store transaction (``store.write()``/``store.read()`` hand out ``tx.conn``), so an alarm's row,
its transition and its ``alarm.*`` event commit together.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tvilling.adapters.sql.schema_alarms import alarm_transitions, alarms
from tvilling.alarms.lifecycle import OPEN_STATES, Alarm


def _utc(t: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time in the platform is timezone-aware UTC.
    if t is None:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _row(alarm: Alarm) -> dict[str, Any]:
    return {"tenant": alarm.tenant, "id": alarm.id, "twin_id": alarm.twin_id, "source": alarm.source,
            "rule_id": alarm.rule_id, "origin": alarm.origin, "severity": alarm.severity, "state": alarm.state,
            "message": alarm.message, "data": {"value": alarm.value}, "raised_at": alarm.raised_at,
            "cleared_at": alarm.cleared_at, "acked_at": alarm.acked_at, "acked_by": alarm.acked_by,
            "ack_comment": alarm.ack_comment, "updated_at": alarm.updated_at or alarm.raised_at}


def _alarm(r: Any) -> Alarm:
    return Alarm(id=r.id, tenant=r.tenant, twin_id=r.twin_id, source=r.source, severity=r.severity,
                 message=r.message, raised_at=_utc(r.raised_at) or datetime.now(UTC), state=r.state,
                 origin=r.origin, rule_id=r.rule_id, value=(r.data or {}).get("value"), acked_by=r.acked_by,
                 acked_at=_utc(r.acked_at), ack_comment=r.ack_comment, cleared_at=_utc(r.cleared_at),
                 updated_at=_utc(r.updated_at))


class SqlAlarmRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def save(self, alarm: Alarm, *, new: bool) -> None:
        row = _row(alarm)
        if new:
            self.conn.execute(sa.insert(alarms), [row])
        else:
            c = alarms.c
            self.conn.execute(sa.update(alarms).where(c.tenant == alarm.tenant, c.id == alarm.id).values(
                {k: v for k, v in row.items() if k not in ("tenant", "id")}))

    def add_transition(self, alarm: Alarm, kind: str, time: datetime, actor: str, context_id: str,
                       parent_id: str | None, comment: str | None = None) -> None:
        self.conn.execute(sa.insert(alarm_transitions), [{
            "tenant": alarm.tenant, "alarm_id": alarm.id, "kind": kind, "state": alarm.state, "time": time,
            "actor": actor, "comment": comment, "context_id": context_id, "parent_id": parent_id}])

    def get(self, tenant: str, alarm_id: str) -> Alarm | None:
        c = alarms.c
        r = self.conn.execute(sa.select(alarms).where(c.tenant == tenant, c.id == alarm_id)).first()
        return _alarm(r) if r is not None else None

    def open_alarms(self) -> list[Alarm]:
        """Every tenant's open alarms (start-up reload)."""
        rows = self.conn.execute(sa.select(alarms).where(alarms.c.state.in_(OPEN_STATES)))
        return [_alarm(r) for r in rows]

    def list(self, tenant: str, *, states: Sequence[str] | None = None, twin: str | None = None,
             severity: str | None = None, limit: int = 100) -> list[Alarm]:
        """Newest first."""
        c = alarms.c
        query = sa.select(alarms).where(c.tenant == tenant)
        if states is not None:
            query = query.where(c.state.in_(list(states)))
        if twin is not None:
            query = query.where(c.twin_id == twin)
        if severity is not None:
            query = query.where(c.severity == severity)
        query = query.order_by(c.raised_at.desc(), c.id).limit(limit)
        return [_alarm(r) for r in self.conn.execute(query)]

    def transitions(self, tenant: str, alarm_id: str) -> builtins.list[dict[str, Any]]:
        t = alarm_transitions.c
        rows = self.conn.execute(sa.select(alarm_transitions).where(t.tenant == tenant, t.alarm_id == alarm_id)
                                 .order_by(t.seq))
        return [{"kind": r.kind, "state": r.state, "time": (_utc(r.time) or r.time).isoformat().replace("+00:00", "Z"),
                 "actor": r.actor, "comment": r.comment, "context": {"id": r.context_id, "parent_id": r.parent_id}}
                for r in rows]
