"""Event routes (outbound webhooks) and their delivery log, per tenant, on the shared metadata of
:mod:`tvilling.adapters.sql.schema`.

A route's delivery state lives on its row: ``cursor_seq`` is the last event (``events.seq``) it delivered or
dead-lettered, so a restart resumes exactly there (at-least-once: at most the event in flight is sent again);
``lease_owner``/``lease_until`` say which server delivers it now, so two servers sharing the database never send
one route's events side by side. The signing secret is not stored: it is derived from a server key outside the
database and ``secret_version`` (bumped by a rotation).

``event_deliveries`` has one row per (route, event) that was attempted: ``pending`` while it is retried,
``delivered``, ``dead`` (dead-lettered after the last attempt, kept with the reason) or ``queued`` (a dead letter
sent again on request).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, String, Table

from tvilling.adapters.sql.schema import Document, metadata

event_routes = Table(
    "event_routes",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("filter", Document, nullable=False),  # {"kinds": [...] | null, "twins": ..., "models": ...}
    Column("enabled", Boolean, nullable=False),
    Column("paused_reason", String(500), nullable=True),
    Column("secret_version", Integer, nullable=False),
    Column("cursor_seq", BigInteger, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("last_success_at", DateTime(timezone=True), nullable=True),
    Column("last_error", String(1000), nullable=True),
    Column("last_error_at", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(32), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ux_event_routes_tenant_name", "tenant", "name", unique=True),
)

event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("route_id", String(32), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(1000), nullable=True),
    Column("first_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ux_event_deliveries_route_seq", "tenant", "route_id", "event_seq", unique=True),
    Index("ix_event_deliveries_route_status", "tenant", "route_id", "status", "id"),
)
