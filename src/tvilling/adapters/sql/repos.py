"""Repositories over one connection. Every statement names the tenant (promise G7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Row

from tvilling.adapters.sql.schema import api_tokens, events, models, relationships, tenants, twins
from tvilling.core.events import Event
from tvilling.ports.store import (
    ModelRecord,
    RelationshipRecord,
    StoredEvent,
    TokenRecord,
    TwinRecord,
)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_GET_TOKEN = select(api_tokens).where(api_tokens.c.id == bindparam("id"))


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class SqlTenantRepo(_Repo):
    def get(self, tenant: str) -> str | None:
        return self.conn.execute(select(tenants.c.name).where(tenants.c.id == tenant)).scalar()

    def ensure(self, tenant: str, name: str, now: datetime) -> bool:
        """Create the tenant if missing; True when it was created."""
        if self.get(tenant) is not None:
            return False
        self.conn.execute(insert(tenants).values(id=tenant, name=name, created_at=now))
        return True

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(tenants)).scalar() or 0)


def _token(row: Row[Any]) -> TokenRecord:
    return TokenRecord(id=row.id, tenant=row.tenant, role=row.role, name=row.name, secret_hash=row.secret_hash,
                       created_at=aware(row.created_at),
                       revoked_at=aware(row.revoked_at) if row.revoked_at else None)


class SqlTokenRepo(_Repo):
    def add(self, token: TokenRecord) -> None:
        self.conn.execute(insert(api_tokens).values(
            id=token.id, tenant=token.tenant, role=token.role, name=token.name, secret_hash=token.secret_hash,
            created_at=token.created_at, revoked_at=token.revoked_at))

    def get(self, token_id: str) -> TokenRecord | None:
        row = self.conn.execute(_GET_TOKEN, {"id": token_id}).first()
        return _token(row) if row else None

    def list(self, tenant: str) -> list[TokenRecord]:
        rows = self.conn.execute(select(api_tokens).where(api_tokens.c.tenant == tenant).order_by(api_tokens.c.id))
        return [_token(r) for r in rows]

    def revoke(self, tenant: str, token_id: str, now: datetime) -> bool:
        res = self.conn.execute(update(api_tokens).where(
            api_tokens.c.tenant == tenant, api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None),
        ).values(revoked_at=now))
        return bool(res.rowcount)


def _model(row: Row[Any]) -> ModelRecord:
    return ModelRecord(tenant=row.tenant, id=row.id, document=row.document, display_name=row.display_name,
                       decommissioned=bool(row.decommissioned), uploaded_at=aware(row.uploaded_at))


_GET_MODEL = select(models).where(models.c.tenant == bindparam("tenant"), models.c.id == bindparam("id"))
_MODEL_FLAG = select(models.c.decommissioned).where(models.c.tenant == bindparam("tenant"),
                                                   models.c.id == bindparam("id"))


class SqlModelRepo(_Repo):
    def add(self, model: ModelRecord) -> None:
        self.conn.execute(insert(models).values(
            tenant=model.tenant, id=model.id, document=model.document, display_name=model.display_name,
            decommissioned=model.decommissioned, uploaded_at=model.uploaded_at))

    def get(self, tenant: str, model_id: str) -> ModelRecord | None:
        row = self.conn.execute(_GET_MODEL, {"tenant": tenant, "id": model_id}).first()
        return _model(row) if row else None

    def is_decommissioned(self, tenant: str, model_id: str) -> bool | None:
        """The flag alone (None: no such model): twin creation checks it without decoding the model document."""
        value = self.conn.execute(_MODEL_FLAG, {"tenant": tenant, "id": model_id}).scalar()
        return None if value is None else bool(value)

    def existing_ids(self, tenant: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        rows = self.conn.execute(select(models.c.id).where(models.c.tenant == tenant, models.c.id.in_(list(ids))))
        return {r.id for r in rows}

    def list(self, tenant: str, *, after: str | None = None, limit: int | None = None) -> list[ModelRecord]:
        stmt = select(models).where(models.c.tenant == tenant).order_by(models.c.id)
        if after is not None:
            stmt = stmt.where(models.c.id > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [_model(r) for r in self.conn.execute(stmt)]

    def set_decommissioned(self, tenant: str, model_id: str, value: bool) -> bool:
        res = self.conn.execute(update(models).where(models.c.tenant == tenant, models.c.id == model_id)
                                .values(decommissioned=value))
        return bool(res.rowcount)

    def delete(self, tenant: str, model_id: str) -> bool:
        res = self.conn.execute(delete(models).where(models.c.tenant == tenant, models.c.id == model_id))
        return bool(res.rowcount)


def _twin(row: Row[Any]) -> TwinRecord:
    return TwinRecord(tenant=row.tenant, id=row.id, model_id=row.model_id, contents=row.contents, meta=row.meta,
                      etag=row.etag, version=row.version, last_update_time=aware(row.last_update_time))


# Hot-path statements are built once: constructing a SELECT costs more than running it on SQLite.
_GET_TWIN = select(twins).where(twins.c.tenant == bindparam("tenant"), twins.c.id == bindparam("id"))
# FOR UPDATE is a no-op on SQLite, where BEGIN IMMEDIATE already serialises writers. On PostgreSQL it is FOR NO KEY
# UPDATE (key_share): a plain FOR UPDATE conflicts with the KEY SHARE lock that the relationship foreign keys take on
# the target twin, so two concurrent PUTs of relationships X->Y and Y->X deadlocked (found by the energy-grid API test).
_GET_TWIN_LOCKED = _GET_TWIN.with_for_update(key_share=True)
# Writes too (group commit runs hundreds per second): values come as parameters, the SET/VALUES clause from their keys.
_INSERT_TWIN = insert(twins)
_UPDATE_TWIN = update(twins).where(twins.c.tenant == bindparam("w_tenant"), twins.c.id == bindparam("w_id"))
_INSERT_EVENT = insert(events).returning(events.c.seq)
_ASSIGN_XID = text("SELECT pg_current_xact_id()")


class SqlTwinRepo(_Repo):
    def get(self, tenant: str, twin_id: str, *, for_update: bool = False) -> TwinRecord | None:
        stmt = _GET_TWIN_LOCKED if for_update else _GET_TWIN
        row = self.conn.execute(stmt, {"tenant": tenant, "id": twin_id}).first()
        return _twin(row) if row else None

    def insert(self, twin: TwinRecord) -> None:
        self.conn.execute(_INSERT_TWIN, {
            "tenant": twin.tenant, "id": twin.id, "model_id": twin.model_id, "contents": twin.contents,
            "meta": twin.meta, "etag": twin.etag, "version": twin.version, "last_update_time": twin.last_update_time})

    def update(self, twin: TwinRecord) -> None:
        self.conn.execute(_UPDATE_TWIN, {
            "w_tenant": twin.tenant, "w_id": twin.id, "model_id": twin.model_id, "contents": twin.contents,
            "meta": twin.meta, "etag": twin.etag, "version": twin.version, "last_update_time": twin.last_update_time})

    def delete(self, tenant: str, twin_id: str) -> bool:
        res = self.conn.execute(delete(twins).where(twins.c.tenant == tenant, twins.c.id == twin_id))
        return bool(res.rowcount)

    def list(self, tenant: str, *, model_ids: Sequence[str] | None = None, after: str | None = None,
             limit: int = 100) -> list[TwinRecord]:
        stmt = select(twins).where(twins.c.tenant == tenant).order_by(twins.c.id).limit(limit)
        if model_ids is not None:
            stmt = stmt.where(twins.c.model_id.in_(list(model_ids)))
        if after is not None:
            stmt = stmt.where(twins.c.id > after)
        return [_twin(r) for r in self.conn.execute(stmt)]

    def count_with_model(self, tenant: str, model_id: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(twins).where(
            twins.c.tenant == tenant, twins.c.model_id == model_id)).scalar() or 0)


def _rel(row: Row[Any]) -> RelationshipRecord:
    return RelationshipRecord(tenant=row.tenant, source_id=row.source_id, id=row.id, name=row.name,
                              target_id=row.target_id, properties=row.properties, etag=row.etag)


_REL_KEY = (relationships.c.tenant == bindparam("w_tenant"), relationships.c.source_id == bindparam("w_source"),
            relationships.c.id == bindparam("w_id"))
_GET_REL = select(relationships).where(*_REL_KEY)
_UPDATE_REL = update(relationships).where(*_REL_KEY)
_INSERT_REL = insert(relationships)
_COUNT_OUTGOING = select(func.count()).select_from(relationships).where(
    relationships.c.tenant == bindparam("w_tenant"), relationships.c.source_id == bindparam("w_source"),
    relationships.c.name == bindparam("w_name"))


class SqlRelationshipRepo(_Repo):
    def get(self, tenant: str, source_id: str, rel_id: str) -> RelationshipRecord | None:
        row = self.conn.execute(_GET_REL, {"w_tenant": tenant, "w_source": source_id, "w_id": rel_id}).first()
        return _rel(row) if row else None

    def upsert(self, rel: RelationshipRecord) -> None:
        values = {"name": rel.name, "target_id": rel.target_id, "properties": rel.properties, "etag": rel.etag}
        res = self.conn.execute(_UPDATE_REL, {"w_tenant": rel.tenant, "w_source": rel.source_id, "w_id": rel.id,
                                              **values})
        if not res.rowcount:
            self.conn.execute(_INSERT_REL, {"tenant": rel.tenant, "source_id": rel.source_id, "id": rel.id,
                                            **values})

    def delete(self, tenant: str, source_id: str, rel_id: str) -> bool:
        res = self.conn.execute(delete(relationships).where(
            relationships.c.tenant == tenant, relationships.c.source_id == source_id, relationships.c.id == rel_id))
        return bool(res.rowcount)

    def outgoing(self, tenant: str, source_id: str, *, name: str | None = None, after: str | None = None,
                 limit: int = 100) -> list[RelationshipRecord]:
        stmt = (select(relationships).where(relationships.c.tenant == tenant, relationships.c.source_id == source_id)
                .order_by(relationships.c.id).limit(limit))
        if name is not None:
            stmt = stmt.where(relationships.c.name == name)
        if after is not None:
            stmt = stmt.where(relationships.c.id > after)
        return [_rel(r) for r in self.conn.execute(stmt)]

    def incoming(self, tenant: str, target_id: str, *, after: tuple[str, str] | None = None,
                 limit: int = 100) -> list[RelationshipRecord]:
        stmt = (select(relationships).where(relationships.c.tenant == tenant, relationships.c.target_id == target_id)
                .order_by(relationships.c.source_id, relationships.c.id).limit(limit))
        if after is not None:
            # Row-value comparison spelled out: portable across SQLite versions and PostgreSQL.
            src, rid = after
            stmt = stmt.where(or_(relationships.c.source_id > src,
                                  and_(relationships.c.source_id == src, relationships.c.id > rid)))
        return [_rel(r) for r in self.conn.execute(stmt)]

    def count_outgoing(self, tenant: str, source_id: str, name: str) -> int:
        return int(self.conn.execute(_COUNT_OUTGOING, {"w_tenant": tenant, "w_source": source_id,
                                                       "w_name": name}).scalar() or 0)

    def count_touching(self, tenant: str, twin_id: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(relationships).where(
            relationships.c.tenant == tenant,
            or_(relationships.c.source_id == twin_id, relationships.c.target_id == twin_id))).scalar() or 0)


class SqlEventRepo(_Repo):
    """Append-only: there is deliberately no update or delete."""

    def append(self, evs: Sequence[Event]) -> list[int]:
        if evs and not getattr(self, "_has_xid", False) and self.conn.dialect.name == "postgresql":
            # The transaction gets its id before its first seq is drawn, so the event log's horizon
            # (adapters/sql/event_log.py) never passes an event of a transaction still running — also in one
            # whose only writes are events (the insight writers).
            self.conn.execute(_ASSIGN_XID)
            self._has_xid = True
        seqs: list[int] = []
        for ev in evs:
            res = self.conn.execute(_INSERT_EVENT, {
                "tenant": ev.tenant, "kind": ev.kind, "subject": ev.subject, "time": ev.time,
                "context_id": ev.context_id, "parent_id": ev.parent_id, "actor": ev.actor, "data": ev.data})
            seqs.append(int(res.scalar_one()))
        return seqs

    def list(self, tenant: str, *, subject: str | None = None, after_seq: int = 0,
             limit: int = 100) -> list[StoredEvent]:
        stmt = (select(events).where(events.c.tenant == tenant, events.c.seq > after_seq)
                .order_by(events.c.seq).limit(limit))
        if subject is not None:
            stmt = stmt.where(events.c.subject == subject)
        return [_stored(r) for r in self.conn.execute(stmt)]

    def between(self, tenant: str, subjects: Sequence[str], start: datetime, end: datetime,
                kind_prefixes: Sequence[str], *, limit: int = 200,
                newest_first: bool = False) -> Sequence[StoredEvent]:
        if not subjects or not kind_prefixes:
            return []
        c = events.c
        stmt = (select(events).where(c.tenant == tenant, c.subject.in_(list(subjects)), c.time >= start, c.time < end,
                                     or_(*(c.kind.startswith(p, autoescape=True) for p in kind_prefixes)))
                .order_by(*((c.time.desc(), c.seq.desc()) if newest_first else (c.time, c.seq))).limit(limit))
        return [_stored(r) for r in self.conn.execute(stmt)]


def _stored(r: Any) -> StoredEvent:
    return StoredEvent(seq=r.seq, event=Event(kind=r.kind, tenant=r.tenant, subject=r.subject, time=aware(r.time),
                                              context_id=r.context_id, parent_id=r.parent_id, actor=r.actor,
                                              data=r.data))


__all__ = ["SqlEventRepo", "SqlModelRepo", "SqlRelationshipRepo", "SqlTenantRepo", "SqlTokenRepo", "SqlTwinRepo",
           "aware"]
