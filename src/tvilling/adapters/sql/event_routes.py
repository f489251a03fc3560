"""Event routes, their delivery log and their reads of the event log, on SQLAlchemy Core (SQLite and PostgreSQL).

Used inside a store transaction (``store.write()``/``store.read()`` hand out ``tx.conn``), so a route change and
its ``eventroute.*`` event, or a delivery's log row and the route's cursor, commit together.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema import events
from tvilling.adapters.sql.schema_event_routes import event_deliveries, event_routes
from tvilling.core.event_routes import FILTER_KEYS, Delivery, EventRoute
from tvilling.core.events import Event
from tvilling.ports.store import StoredEvent

R = event_routes.c
D = event_deliveries.c


def _maybe(t: datetime | None) -> datetime | None:
    return aware(t) if t is not None else None


def _route(r: Any) -> EventRoute:
    stored = r.filter if isinstance(r.filter, dict) else {}
    return EventRoute(
        tenant=r.tenant, id=r.id, name=r.name, url=r.url,
        filter={k: list(stored[k]) if isinstance(stored.get(k), list) else None for k in FILTER_KEYS},
        enabled=bool(r.enabled), secret_version=int(r.secret_version), cursor_seq=int(r.cursor_seq),
        created_by=r.created_by, created_at=aware(r.created_at), updated_by=r.updated_by,
        updated_at=aware(r.updated_at), paused_reason=r.paused_reason,
        consecutive_failures=int(r.consecutive_failures), last_success_at=_maybe(r.last_success_at),
        last_error=r.last_error, last_error_at=_maybe(r.last_error_at))


def _delivery(r: Any) -> Delivery:
    return Delivery(id=int(r.id), tenant=r.tenant, route_id=r.route_id, event_seq=int(r.event_seq),
                    event_id=r.event_id, kind=r.kind, subject=r.subject, status=r.status, attempts=int(r.attempts),
                    status_code=r.status_code, error=r.error, first_attempt_at=_maybe(r.first_attempt_at),
                    last_attempt_at=_maybe(r.last_attempt_at), next_attempt_at=_maybe(r.next_attempt_at),
                    delivered_at=_maybe(r.delivered_at))


def _stored(r: Any) -> StoredEvent:
    return StoredEvent(seq=int(r.seq), event=Event(kind=r.kind, tenant=r.tenant, subject=r.subject,
                                                   time=aware(r.time), context_id=r.context_id,
                                                   parent_id=r.parent_id, actor=r.actor, data=r.data))


def kind_clause(kinds: Sequence[str]) -> Any:
    """``kind = k OR kind LIKE 'k.%'`` for each prefix, as the bus matches (escaped: ``_`` is a LIKE wildcard)."""
    def escaped(k: str) -> str:
        return k.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    return sa.or_(*[sa.or_(events.c.kind == k, events.c.kind.like(escaped(k) + ".%", escape="\\")) for k in kinds])


class SqlEventRouteRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- routes -----------------------------------------------------------------------------------------------
    def insert(self, route: EventRoute) -> None:
        self.conn.execute(sa.insert(event_routes).values(
            tenant=route.tenant, id=route.id, name=route.name, url=route.url, filter=route.filter,
            enabled=route.enabled, paused_reason=route.paused_reason, secret_version=route.secret_version,
            cursor_seq=route.cursor_seq, consecutive_failures=0, created_by=route.created_by,
            created_at=route.created_at, updated_by=route.updated_by, updated_at=route.updated_at))

    def get(self, tenant: str, route_id: str) -> EventRoute | None:
        row = self.conn.execute(sa.select(event_routes).where(R.tenant == tenant, R.id == route_id)).first()
        return _route(row) if row is not None else None

    def name_taken(self, tenant: str, name: str, *, other_than: str | None = None) -> bool:
        query = sa.select(R.id).where(R.tenant == tenant, R.name == name)
        if other_than is not None:
            query = query.where(R.id != other_than)
        return self.conn.execute(query).first() is not None

    def list(self, tenant: str) -> builtins.list[EventRoute]:
        rows = self.conn.execute(sa.select(event_routes).where(R.tenant == tenant).order_by(R.created_at, R.id))
        return [_route(r) for r in rows]

    def enabled(self) -> builtins.list[EventRoute]:
        """Every tenant's enabled routes: what the delivery service runs."""
        return [_route(r) for r in self.conn.execute(sa.select(event_routes).where(R.enabled.is_(True)))]

    def update(self, tenant: str, route_id: str, values: dict[str, Any]) -> bool:
        result = self.conn.execute(sa.update(event_routes).where(R.tenant == tenant, R.id == route_id)
                                   .values(values))
        return bool(result.rowcount)

    def delete(self, tenant: str, route_id: str) -> bool:
        self.conn.execute(sa.delete(event_deliveries).where(D.tenant == tenant, D.route_id == route_id))
        return bool(self.conn.execute(sa.delete(event_routes).where(R.tenant == tenant, R.id == route_id)).rowcount)

    # -- which server delivers a route, and how far it got -----------------------------------------------------
    def claim(self, tenant: str, route_id: str, owner: str, now: datetime, until: datetime) -> str | None:
        """Take or renew the lease: ``"kept"`` when ``owner`` held it without a break (unexpired), ``"taken"`` when
        it was free, expired or another's expired one (the cursor may have moved meanwhile: read it again), None
        while another server holds an unexpired one (or the route is gone or paused)."""
        held = self.conn.execute(sa.select(R.lease_owner, R.lease_until).where(
            R.tenant == tenant, R.id == route_id).with_for_update()).first()
        free = sa.or_(R.lease_owner.is_(None), R.lease_owner == owner, R.lease_until < now)
        result = self.conn.execute(sa.update(event_routes).where(
            R.tenant == tenant, R.id == route_id, R.enabled.is_(True), free).values(lease_owner=owner,
                                                                                   lease_until=until))
        if not result.rowcount:
            return None
        kept = (held is not None and held.lease_owner == owner and held.lease_until is not None
                and aware(held.lease_until) > now)
        return "kept" if kept else "taken"

    def release(self, owner: str) -> None:
        self.conn.execute(sa.update(event_routes).where(R.lease_owner == owner).values(lease_owner=None,
                                                                                        lease_until=None))

    def set_state(self, tenant: str, route_id: str, owner: str, values: dict[str, Any], now: datetime) -> bool:
        """Update the delivery state (cursor, status) only while ``owner`` holds an unexpired lease: a server that
        lost it cannot move the cursor under the one that took over. The cursor never moves backwards (a holder
        that lost the lease and took it again must not undo what another server delivered meanwhile)."""
        if "cursor_seq" in values:
            seq = values["cursor_seq"]
            values = {**values, "cursor_seq": sa.case((R.cursor_seq > seq, R.cursor_seq), else_=seq)}
        result = self.conn.execute(sa.update(event_routes).where(
            R.tenant == tenant, R.id == route_id, R.lease_owner == owner, R.lease_until > now).values(values))
        return bool(result.rowcount)

    # -- the delivery log -------------------------------------------------------------------------------------
    def delivery(self, tenant: str, route_id: str, delivery_id: int) -> Delivery | None:
        row = self.conn.execute(sa.select(event_deliveries).where(
            D.tenant == tenant, D.route_id == route_id, D.id == delivery_id)).first()
        return _delivery(row) if row is not None else None

    def delivery_for(self, tenant: str, route_id: str, seq: int) -> Delivery | None:
        row = self.conn.execute(sa.select(event_deliveries).where(
            D.tenant == tenant, D.route_id == route_id, D.event_seq == seq)).first()
        return _delivery(row) if row is not None else None

    def deliveries(self, tenant: str, route_id: str, *, status: str | None = None, before: int | None = None,
                   limit: int = 100) -> builtins.list[Delivery]:
        """Newest first; ``before`` is the last id of the previous page."""
        query = sa.select(event_deliveries).where(D.tenant == tenant, D.route_id == route_id)
        if status is not None:
            query = query.where(D.status == status)
        if before is not None:
            query = query.where(D.id < before)
        return [_delivery(r) for r in self.conn.execute(query.order_by(D.id.desc()).limit(limit))]

    def queued(self, tenant: str, route_id: str, limit: int = 10) -> builtins.list[Delivery]:
        rows = self.conn.execute(sa.select(event_deliveries).where(
            D.tenant == tenant, D.route_id == route_id, D.status == "queued").order_by(D.id).limit(limit))
        return [_delivery(r) for r in rows]

    def count(self, tenant: str, route_id: str, status: str) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(event_deliveries).where(
            D.tenant == tenant, D.route_id == route_id, D.status == status)).scalar() or 0)

    def save_delivery(self, tenant: str, route_id: str, seq: int, values: dict[str, Any]) -> None:
        """Insert or update the log row of (route, event)."""
        result = self.conn.execute(sa.update(event_deliveries).where(
            D.tenant == tenant, D.route_id == route_id, D.event_seq == seq).values(values))
        if not result.rowcount:
            self.conn.execute(sa.insert(event_deliveries).values(tenant=tenant, route_id=route_id, event_seq=seq,
                                                                 **values))

    def prune(self, tenant: str, route_id: str, keep: int) -> int:
        """Forget delivered entries beyond the newest ``keep`` of the route (dead letters stay)."""
        edge = self.conn.execute(sa.select(D.id).where(
            D.tenant == tenant, D.route_id == route_id, D.status == "delivered").order_by(D.id.desc())
            .offset(keep).limit(1)).scalar()
        if edge is None:
            return 0
        return int(self.conn.execute(sa.delete(event_deliveries).where(
            D.tenant == tenant, D.route_id == route_id, D.status == "delivered", D.id <= edge)).rowcount)

    # -- the event log ----------------------------------------------------------------------------------------
    def events_after(self, tenant: str, after: int, upto: int, *, kinds: Sequence[str] | None,
                     subjects: Sequence[str] | None, limit: int) -> builtins.list[StoredEvent]:
        """The tenant's events with ``after < seq <= upto`` in log order, narrowed by kind prefixes and subjects
        where given (the rest of a filter is applied by the caller)."""
        query = sa.select(events).where(events.c.tenant == tenant, events.c.seq > after, events.c.seq <= upto)
        if kinds is not None:
            query = query.where(kind_clause(kinds))
        if subjects is not None:
            query = query.where(events.c.subject.in_(list(subjects)))
        return [_stored(r) for r in self.conn.execute(query.order_by(events.c.seq).limit(limit))]

    def count_after(self, tenant: str, after: int, upto: int, *, kinds: Sequence[str] | None,
                    subjects: Sequence[str] | None, cap: int) -> int:
        inner = sa.select(events.c.seq).where(events.c.tenant == tenant, events.c.seq > after, events.c.seq <= upto)
        if kinds is not None:
            inner = inner.where(kind_clause(kinds))
        if subjects is not None:
            inner = inner.where(events.c.subject.in_(list(subjects)))
        capped = inner.limit(cap).subquery()
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(capped)).scalar() or 0)

    def event(self, tenant: str, seq: int) -> StoredEvent | None:
        row = self.conn.execute(sa.select(events).where(events.c.tenant == tenant, events.c.seq == seq)).first()
        return _stored(row) if row is not None else None

    def last_seq(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.max(events.c.seq))).scalar() or 0)
