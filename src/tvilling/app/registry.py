"""The model registry: versioned model artifacts per tenant, with metrics, training range, parameters, lineage
and a stage (candidate → production → archived).

* ``register`` adds version ``max + 1`` of a name (monotone per name, allocated inside the write transaction).
* ``promote`` makes one version the production one; the previous production version becomes archived, so a
  name has at most one production version at any time. The promoted row remembers the version it replaced.
* ``rollback`` re-promotes the version the current production one replaced (repeated roll-backs walk back
  through the promotion history).

Every change is an event (``ml.model.registered`` / ``ml.model.promoted`` / ``ml.model.rolled_back``) with the
caller's :class:`~tvilling.core.context.Context`, appended in the same transaction and published after commit.
The service is stateless (store, bus, clock), so front-ends create it where they need it (:func:`registry_for`).
Artifacts come from the platform itself (the live monitor, training jobs); the API never accepts uploads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tvilling import __version__
from tvilling.adapters.sql.schema_registry import ml_models
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, ValidationError
from tvilling.core.events import Event

KINDS = ("anomaly", "rul")
STAGES = ("candidate", "production", "archived")
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f/\\?#]{1,600}$")  # a twin id plus a suffix; no URL delimiters
_META = [c for c in ml_models.c if c.name != "artifact"]


@dataclass(frozen=True)
class ModelVersion:
    tenant: str
    name: str
    version: int
    kind: str
    stage: str
    format: str
    metrics: dict[str, Any]
    training: dict[str, Any]
    parameters: dict[str, Any]
    lineage: dict[str, Any]
    replaced_version: int | None
    created_by: str
    created_at: datetime
    promoted_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, "stage": self.stage,
                "format": self.format, "metrics": self.metrics, "training": self.training,
                "parameters": self.parameters, "lineage": self.lineage, "replaced_version": self.replaced_version,
                "created_by": self.created_by, "created_at": self.created_at.isoformat(),
                "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None}


def _row(r: Any) -> ModelVersion:
    return ModelVersion(tenant=r.tenant, name=r.name, version=r.version, kind=r.kind, stage=r.stage, format=r.format,
                        metrics=dict(r.metrics or {}), training=dict(r.training or {}),
                        parameters=dict(r.parameters or {}), lineage=dict(r.lineage or {}),
                        replaced_version=r.replaced_version, created_by=r.created_by, created_at=r.created_at,
                        promoted_at=r.promoted_at)


def fingerprint(rows: Any) -> str:
    """A short, stable digest of training data (its repr), recorded as lineage."""
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValidationError(f"bad model name {name!r}", where="name",
                              hint="1-600 characters, no control characters, '/', '\\', '?' or '#'")
    return name


class RegistryService:
    def __init__(self, store: Any, bus: Any, clock: Any) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock

    # -- reads ------------------------------------------------------------------------------------------------
    def list_models(self, tenant: str) -> list[dict[str, Any]]:
        """One summary per name: kind, number of versions, latest and production version."""
        c = ml_models.c
        query = (sa.select(c.name, c.version, c.kind, c.stage).where(c.tenant == tenant)
                 .order_by(c.name, c.version))
        out: dict[str, dict[str, Any]] = {}
        with self.store.read() as tx:
            for r in tx.conn.execute(query):
                item = out.setdefault(r.name, {"name": r.name, "kind": r.kind, "versions": 0,
                                               "latest_version": None, "production_version": None})
                item["versions"] += 1
                item["latest_version"] = r.version
                item["kind"] = r.kind
                if r.stage == "production":
                    item["production_version"] = r.version
        return list(out.values())

    def versions(self, tenant: str, name: str) -> list[ModelVersion]:
        c = ml_models.c
        with self.store.read() as tx:
            rows = [_row(r) for r in tx.conn.execute(
                sa.select(*_META).where(c.tenant == tenant, c.name == name).order_by(c.version))]
        if not rows:
            raise NotFoundError(f"no model named {name!r}", where="name")
        return rows

    def get(self, tenant: str, name: str, version: int) -> ModelVersion:
        c = ml_models.c
        with self.store.read() as tx:
            r = tx.conn.execute(sa.select(*_META).where(c.tenant == tenant, c.name == name,
                                                        c.version == version)).first()
        if r is None:
            raise NotFoundError(f"model {name!r} has no version {version}", where="version")
        return _row(r)

    def production(self, tenant: str, name: str) -> tuple[ModelVersion, bytes] | None:
        """The production version of ``name`` with its artifact, or None."""
        c = ml_models.c
        with self.store.read() as tx:
            r = tx.conn.execute(sa.select(ml_models).where(c.tenant == tenant, c.name == name,
                                                           c.stage == "production")).first()
        return (_row(r), bytes(r.artifact)) if r is not None else None

    def artifact(self, tenant: str, name: str, version: int) -> bytes:
        c = ml_models.c
        with self.store.read() as tx:
            data = tx.conn.execute(sa.select(c.artifact).where(c.tenant == tenant, c.name == name,
                                                               c.version == version)).scalar_one_or_none()
        if data is None:
            raise NotFoundError(f"model {name!r} has no version {version}", where="version")
        return bytes(data)

    # -- writes -----------------------------------------------------------------------------------------------
    def register(self, tenant: str, name: str, kind: str, artifact: bytes, fmt: str, context: Context, *,
                 metrics: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
                 parameters: dict[str, Any] | None = None, lineage: dict[str, Any] | None = None,
                 promote: bool = False) -> ModelVersion:
        """Add the next version of ``name`` (a candidate, or production at once with ``promote``)."""
        check_name(name)
        if kind not in KINDS:
            raise ValidationError(f"unknown model kind {kind!r}", where="kind", hint="one of " + ", ".join(KINDS))
        lineage = {"code_version": __version__, **(lineage or {})}
        c = ml_models.c
        now = self.clock.now()
        events: list[Event] = []
        with self.store.write() as tx:
            top = tx.conn.execute(sa.select(sa.func.max(c.version)).where(c.tenant == tenant,
                                                                         c.name == name)).scalar()
            version = int(top or 0) + 1
            tx.conn.execute(sa.insert(ml_models).values(
                tenant=tenant, name=name, version=version, kind=kind, stage="candidate", format=fmt,
                artifact=artifact, metrics=metrics or {}, training=training or {}, parameters=parameters or {},
                lineage=lineage, replaced_version=None, created_by=context.actor, created_at=now,
                promoted_at=None))
            events.append(self._event("ml.model.registered", tenant, name, context,
                                      {"version": version, "kind": kind, "metrics": metrics or {},
                                       "lineage": lineage}))
            if promote:
                events.append(self._promote(tx, tenant, name, version, context, rollback=False))
            tx.events.append(events)
        self.bus.publish(events)
        return self.get(tenant, name, version)

    def promote(self, tenant: str, name: str, version: int, context: Context) -> ModelVersion:
        with self.store.write() as tx:
            event = self._promote(tx, tenant, name, version, context, rollback=False)
            tx.events.append([event])
        self.bus.publish([event])
        return self.get(tenant, name, version)

    def rollback(self, tenant: str, name: str, context: Context) -> ModelVersion:
        """Re-promote the version that the current production version replaced."""
        c = ml_models.c
        with self.store.write() as tx:
            current = tx.conn.execute(sa.select(c.version, c.replaced_version).where(
                c.tenant == tenant, c.name == name, c.stage == "production").with_for_update()).first()
            if current is None:
                self._exists(tx, tenant, name)
                raise ConflictError(f"model {name!r} has no production version to roll back",
                                    hint="promote a version first")
            if current.replaced_version is None:
                raise ConflictError(f"version {current.version} of {name!r} replaced no earlier production version",
                                    hint="nothing to roll back to; promote a version explicitly")
            target = int(current.replaced_version)
            event = self._promote(tx, tenant, name, target, context, rollback=True)
            tx.events.append([event])
        self.bus.publish([event])
        return self.get(tenant, name, target)

    # -- internals --------------------------------------------------------------------------------------------
    def _exists(self, tx: Any, tenant: str, name: str) -> None:
        c = ml_models.c
        if tx.conn.execute(sa.select(c.version).where(c.tenant == tenant, c.name == name).limit(1)).first() is None:
            raise NotFoundError(f"no model named {name!r}", where="name")

    def _promote(self, tx: Any, tenant: str, name: str, version: int, context: Context, *,
                 rollback: bool) -> Event:
        c = ml_models.c
        rows = {r.version: r for r in tx.conn.execute(
            sa.select(c.version, c.stage, c.replaced_version).where(
                c.tenant == tenant, c.name == name).with_for_update())}
        if version not in rows:
            self._exists(tx, tenant, name)
            raise NotFoundError(f"model {name!r} has no version {version}", where="version")
        current = next((v for v, r in rows.items() if r.stage == "production"), None)
        if current == version:
            raise ConflictError(f"version {version} of {name!r} is already in production")
        where = sa.and_(c.tenant == tenant, c.name == name)
        if current is not None:
            tx.conn.execute(sa.update(ml_models).where(where, c.version == current).values(stage="archived"))
        # A roll-back keeps the target's own record of what it replaced, so the next roll-back goes further back.
        replaced = rows[version].replaced_version if rollback else current
        tx.conn.execute(sa.update(ml_models).where(where, c.version == version).values(
            stage="production", replaced_version=replaced, promoted_at=self.clock.now()))
        kind = "ml.model.rolled_back" if rollback else "ml.model.promoted"
        return self._event(kind, tenant, name, context, {"version": version, "previous": current})

    def _event(self, kind: str, tenant: str, name: str, context: Context, data: dict[str, Any]) -> Event:
        return Event(kind=kind, tenant=tenant, subject=name, time=self.clock.now(), context_id=context.id,
                     parent_id=context.parent_id, actor=context.actor, data={"model": name, **data})


def registry_for(services: Any) -> RegistryService:
    """The registry over a :class:`~tvilling.app.services.Services` bundle's store, bus and clock."""
    return RegistryService(services.store, services.bus, services.clock)
