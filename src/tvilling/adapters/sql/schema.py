"""The relational schema, shared by SQLite and PostgreSQL. Alembic migrations must match it.

Design notes (why):
- Every table is keyed by ``tenant`` first, so no query can reach another tenant's rows without naming it.
- Twin documents are JSON (``JSON`` maps to JSON1 text on SQLite and ``jsonb`` via ``JSONB`` variant on
  PostgreSQL) so the ADT query language can address any property path without a column per property.
- Samples use integer microseconds since the Unix epoch for ``source_time``: bucket arithmetic stays portable and
  the primary key (series_id, source_time) makes at-least-once delivery idempotent (G2). A series is one
  (tenant, twin_id, name); samples name it by a small integer (``series``), so readers reach samples only through
  a series looked up by tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

# JSON on SQLite, JSONB on PostgreSQL (indexable, with containment operators).
Document = JSON().with_variant(JSONB(), "postgresql")

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    # SHA-256 of the secret part; the secret itself is shown once and never stored (house rule 9).
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

models = Table(
    "models",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(512), primary_key=True),
    Column("document", Document, nullable=False),
    Column("display_name", String(512), nullable=True),
    Column("decommissioned", Boolean, nullable=False, default=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
)

twins = Table(
    "twins",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(512), primary_key=True),
    Column("model_id", String(512), nullable=False),
    # The ADT twin document without $dtId/$etag/$metadata: properties and components.
    Column("contents", Document, nullable=False),
    # Per-property metadata: {"prop": {"lastUpdateTime", "sourceTime", "quality", "desiredValue", ...}}.
    Column("meta", Document, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("last_update_time", DateTime(timezone=True), nullable=False),
    Index("ix_twins_tenant_model", "tenant", "model_id"),
)

relationships = Table(
    "relationships",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source_id", String(512), primary_key=True),
    Column("id", String(512), primary_key=True),
    Column("name", String(512), nullable=False),
    Column("target_id", String(512), nullable=False),
    Column("properties", Document, nullable=False),
    Column("etag", String(64), nullable=False),
    ForeignKeyConstraint(["tenant", "source_id"], ["twins.tenant", "twins.id"], name="fk_rel_source"),
    ForeignKeyConstraint(["tenant", "target_id"], ["twins.tenant", "twins.id"], name="fk_rel_target"),
    Index("ix_relationships_source_name", "tenant", "source_id", "name"),
    Index("ix_relationships_target", "tenant", "target_id"),
)

# Append-only: rows are inserted, never updated or deleted (the audit trail is built on it).
events = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("context_id", String(32), nullable=False),
    Column("parent_id", String(32), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("data", Document, nullable=False),
    Index("ix_events_tenant_subject", "tenant", "subject", "seq"),
    # 0015: "what happened to these twins between then and then" (the explainer's events) without a scan.
    Index("ix_events_tenant_subject_time", "tenant", "subject", "time"),
    Index("ix_events_context", "context_id"),
)

# One row per time series: a (tenant, twin, name). Created by the history store before its first sample and never
# deleted (retention removes samples, not series), so a cached id stays valid.
series = Table(
    "series",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("twin_id", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    UniqueConstraint("tenant", "twin_id", "name"),
)

# Time-series history: one row per (series, source time). Numeric values go to ``value``; strings/booleans/objects
# to ``value_json``. Keyed by the integer series id rather than (tenant, twin_id, name): key comparisons are integer
# comparisons and rows are ~40 bytes shorter, which measured ~29 % less SQLite CPU per inserted sample (see 0006).
# No foreign key to ``series``: SQLite would look the parent up for every inserted sample, and the store is the
# only writer and creates the series first.
samples = Table(
    "samples",
    metadata,
    Column("series_id", BigInteger, primary_key=True),
    Column("source_time", BigInteger, primary_key=True),  # microseconds since the Unix epoch, UTC
    Column("value", Float, nullable=True),
    Column("value_json", JSON, nullable=True),
    Column("quality", String(16), nullable=False),
    Column("reason", String(48), nullable=False, default=""),
    Column("unit", String(64), nullable=True),
    Column("received_at", BigInteger, nullable=False),  # microseconds since the Unix epoch, UTC
    # SQLite: the row lives in the key's b-tree (no rowid table + key index pair to update per sample); see 0005.
    sqlite_with_rowid=False,
)

# SQLite: small ingest commits append here (a rowid table without an index: a commit dirties a page or two) instead of
# one ``samples`` leaf per series touched (~100 pages of WAL and fsync per commit of a 100-series stream, ~100 MB/s
# of WAL at 10 000 points/s); the store moves the rows into ``samples`` in key order every few thousand rows.
# Only samples newer than everything stored for their series come here, so it needs no duplicate check; readers see
# ``samples`` UNION ALL ``samples_recent`` (``raw_samples``). Unused (empty) on PostgreSQL. See migration 0007.
samples_recent = Table(
    "samples_recent",
    metadata,
    Column("series_id", BigInteger, nullable=False),
    Column("source_time", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Column("value_json", JSON, nullable=True),
    Column("quality", String(16), nullable=False),
    Column("reason", String(48), nullable=False, default=""),
    Column("unit", String(64), nullable=True),
    Column("received_at", BigInteger, nullable=False),
)


def raw_samples() -> Any:
    """Every committed raw sample: ``samples`` and the not yet merged ``samples_recent`` (same columns)."""
    return union_all(select(samples), select(samples_recent)).subquery("raw_samples")


# Rollups maintained at ingest so long-range bucketed history never scans raw samples.
rollups = Table(
    "rollups",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("twin_id", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("width_s", Integer, primary_key=True),  # 60 or 3600
    Column("bucket_start", BigInteger, primary_key=True),  # microseconds since the Unix epoch
    Column("count", Integer, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("last", Float, nullable=False),
    Column("last_time", BigInteger, nullable=False),
)

# Rejected or implausible input, kept with its raw payload and a reason (never silently dropped).
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(64), nullable=False),  # mqtt / sparkplug / opcua / http / replay
    Column("address", String(1024), nullable=False),  # topic, NodeId, endpoint
    Column("twin_id", String(512), nullable=True),
    Column("name", String(512), nullable=True),
    Column("reason", String(48), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("raw", LargeBinary, nullable=True),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_quarantine_tenant_reason", "tenant", "reason"),
)

# Feature tables live in their own modules on the same metadata; importing them here registers them.
from tvilling.adapters.sql import (  # noqa: E402, F401
    schema_alarms,
    schema_audit,
    schema_commands,
    schema_event_routes,
    schema_fmus,
    schema_registry,
    schema_setpoints,
    schema_work_orders,
)
