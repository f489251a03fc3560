"""Tables of the alarms feature, on the shared metadata of :mod:`tvilling.adapters.sql.schema`.

``alarms`` holds one row per alarm instance (its current lifecycle state, updated in place); open alarms are
reloaded from it on start, so a restart keeps them. ``alarm_transitions`` is append-only: every raise, clear and
acknowledgement with its actor, comment and causality context (the audit trail of one alarm).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Table, Text

from tvilling.adapters.sql.schema import metadata

alarms = Table(
    "alarms",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("twin_id", String(512), nullable=False),
    Column("source", String(512), nullable=False),  # property or detector
    Column("rule_id", String(200), nullable=True),
    Column("origin", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # active | acknowledged | returned | cleared
    Column("message", Text, nullable=False),
    # {"value": the reading that raised it}: wrapped, because SQLite gives a bare JSON number column numeric
    # affinity and hands back a float the JSON decoder refuses.
    Column("data", JSON, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=True),
    Column("acked_at", DateTime(timezone=True), nullable=True),
    Column("acked_by", String(200), nullable=True),
    Column("ack_comment", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_alarms_tenant_state", "tenant", "state"),
    Index("ix_alarms_tenant_twin", "tenant", "twin_id"),
)

alarm_transitions = Table(
    "alarm_transitions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("alarm_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # raised | acknowledged | cleared
    Column("state", String(16), nullable=False),  # the state after the transition
    Column("time", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("comment", Text, nullable=True),
    Column("context_id", String(32), nullable=False),
    Column("parent_id", String(32), nullable=True),
    Index("ix_alarm_transitions_alarm", "tenant", "alarm_id", "seq"),
)
