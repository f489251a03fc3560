"""Tables of the work-order feature, on the shared metadata of :mod:`tvilling.adapters.sql.schema`.

``work_orders`` holds one row per work order (its current state, updated in place). ``work_order_transitions`` is
append-only: creation and every approve, reject, complete and cancel, with its actor, comment and causality
context — the audit trail of one work order. ``work_order_settings`` holds a tenant's own cap on the policy mode
(the runtime kill switch), read on every decision so every server sharing the database obeys it at once.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, Text, text

from tvilling.adapters.sql.schema import Document, metadata

LIVE_RULE = "rule_id IS NOT NULL AND state IN ('proposed', 'open')"

work_orders = Table(
    "work_orders",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("twin_id", String(512), nullable=False),
    Column("rule_id", String(200), nullable=True),
    Column("title", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # proposed | open | done | rejected | cancelled
    Column("mode", String(16), nullable=False),  # auto | approve | manual
    Column("reason", String(500), nullable=False),
    Column("evidence", Document, nullable=False),
    Column("due_by", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("closed_by", String(200), nullable=True),
    Column("comment", Text, nullable=True),
    Index("ix_work_orders_tenant_state", "tenant", "state"),
    Index("ix_work_orders_tenant_twin", "tenant", "twin_id", "rule_id"),
    Index("ix_work_orders_tenant_created", "tenant", "created_at"),
    # One live work order per twin and rule, enforced by the database too: two servers deciding on the same
    # insight at once cannot both insert one (the second gets a conflict and counts it as suppressed).
    Index("ux_work_orders_live_rule", "tenant", "twin_id", "rule_id", unique=True,
          postgresql_where=text(LIVE_RULE), sqlite_where=text(LIVE_RULE)),
)

work_order_transitions = Table(
    "work_order_transitions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("work_order_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # created | approved | rejected | completed | cancelled
    Column("state", String(16), nullable=False),  # the state after the transition
    Column("time", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("comment", Text, nullable=True),
    Column("context_id", String(32), nullable=False),
    Column("parent_id", String(32), nullable=True),
    Index("ix_work_order_transitions_order", "tenant", "work_order_id", "seq"),
)

work_order_settings = Table(
    "work_order_settings",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("mode", String(16), nullable=False),  # off | approve | auto: caps the file's mode for this tenant
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("comment", Text, nullable=True),
)
