"""Setpoint loops (tvilling.app.setpoint_loops): each loop's autonomy state, and the proposals it made.

``setpoint_loops`` is what must survive a restart: whether autonomy is enabled, why it was suspended, how many
commands failed in a row. ``setpoint_proposals`` keeps every decision as JSON (the figures, the confidence, what was
sent), keyed for the newest-first listing per loop.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text

from tvilling.adapters.sql.schema import metadata

setpoint_loops = Table(
    "setpoint_loops",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("enabled", Boolean, nullable=False, default=False),
    Column("suspended_reason", Text, nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
)

setpoint_proposals = Table(
    "setpoint_proposals",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("loop", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # the zone's (source) time the decision was made for
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decision", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_setpoint_proposals_loop", "tenant", "loop", "created_at"),
)
