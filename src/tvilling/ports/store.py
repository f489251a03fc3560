"""The store contract for the platform spine: tenants, tokens, models, twins, relationships and events.

One ``Store`` hands out transactions; a transaction exposes one repository per object kind. Every repository
method takes the tenant explicitly, so no call can reach another tenant's rows without naming it (promise G7).
A second implementation must pass ``tests/integration/store`` (the store conformance suite).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tvilling.core.events import Event

JSON = Any


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    tenant: str
    role: str
    name: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    tenant: str
    id: str
    document: dict[str, JSON]
    display_name: str | None
    decommissioned: bool
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class TwinRecord:
    tenant: str
    id: str
    model_id: str
    contents: dict[str, JSON]
    # Per-property metadata keyed by property path ("temp" or "component/temp").
    meta: dict[str, JSON]
    etag: str
    version: int
    last_update_time: datetime


@dataclass(frozen=True, slots=True)
class RelationshipRecord:
    tenant: str
    source_id: str
    id: str
    name: str
    target_id: str
    properties: dict[str, JSON] = field(default_factory=dict)
    etag: str = ""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event: Event


class TenantRepo(Protocol):
    def get(self, tenant: str) -> str | None: ...
    def ensure(self, tenant: str, name: str, now: datetime) -> bool: ...
    def count(self) -> int: ...


class TokenRepo(Protocol):
    def add(self, token: TokenRecord) -> None: ...
    def get(self, token_id: str) -> TokenRecord | None: ...
    def list(self, tenant: str) -> list[TokenRecord]: ...
    def revoke(self, tenant: str, token_id: str, now: datetime) -> bool: ...


class ModelRepo(Protocol):
    def add(self, model: ModelRecord) -> None: ...
    def get(self, tenant: str, model_id: str) -> ModelRecord | None: ...
    def existing_ids(self, tenant: str, ids: Sequence[str]) -> set[str]: ...
    def list(self, tenant: str, *, after: str | None = None, limit: int | None = None) -> list[ModelRecord]: ...
    def set_decommissioned(self, tenant: str, model_id: str, value: bool) -> bool: ...
    def delete(self, tenant: str, model_id: str) -> bool: ...


class TwinRepo(Protocol):
    def get(self, tenant: str, twin_id: str, *, for_update: bool = False) -> TwinRecord | None: ...
    def insert(self, twin: TwinRecord) -> None: ...
    def update(self, twin: TwinRecord) -> None: ...
    def delete(self, tenant: str, twin_id: str) -> bool: ...
    def list(self, tenant: str, *, model_ids: Sequence[str] | None = None, after: str | None = None,
             limit: int = 100) -> list[TwinRecord]: ...
    def count_with_model(self, tenant: str, model_id: str) -> int: ...


class RelationshipRepo(Protocol):
    def get(self, tenant: str, source_id: str, rel_id: str) -> RelationshipRecord | None: ...
    def upsert(self, rel: RelationshipRecord) -> None: ...
    def delete(self, tenant: str, source_id: str, rel_id: str) -> bool: ...
    def outgoing(self, tenant: str, source_id: str, *, name: str | None = None, after: str | None = None,
                 limit: int = 100) -> list[RelationshipRecord]: ...
    def incoming(self, tenant: str, target_id: str, *, after: tuple[str, str] | None = None,
                 limit: int = 100) -> list[RelationshipRecord]: ...
    def count_outgoing(self, tenant: str, source_id: str, name: str) -> int: ...
    def count_touching(self, tenant: str, twin_id: str) -> int: ...


class EventRepo(Protocol):
    def append(self, events: Sequence[Event]) -> list[int]: ...
    def list(self, tenant: str, *, subject: str | None = None, after_seq: int = 0,
             limit: int = 100) -> list[StoredEvent]: ...
    def between(self, tenant: str, subjects: Sequence[str], start: datetime, end: datetime,
                kind_prefixes: Sequence[str], *, limit: int = 200,
                newest_first: bool = False) -> Sequence[StoredEvent]:
        """Events about ``subjects`` with ``start <= time < end`` whose kind starts with one of ``kind_prefixes``,
        oldest first (or newest first), at most ``limit``."""
        ...


class Transaction(Protocol):
    @property
    def tenants(self) -> TenantRepo: ...
    @property
    def tokens(self) -> TokenRepo: ...
    @property
    def models(self) -> ModelRepo: ...
    @property
    def twins(self) -> TwinRepo: ...
    @property
    def relationships(self) -> RelationshipRepo: ...
    @property
    def events(self) -> EventRepo: ...


class Store(Protocol):
    def read(self) -> AbstractContextManager[Transaction]:
        """A read-only transaction (a consistent snapshot)."""
        ...

    def write(self) -> AbstractContextManager[Transaction]:
        """A write transaction: committed when the block exits normally, rolled back on an exception."""
        ...

    def ping(self) -> bool: ...


class EventSink(Protocol):
    """Where committed events go (the in-process bus). Called only after COMMIT."""

    def publish(self, events: Sequence[Event]) -> None: ...


