"""Tables of the commands feature, on the shared metadata of :mod:`tvilling.adapters.sql.schema`.

``commands`` holds one row per command with its current state; ``command_transitions`` every state change (and
late answers) in order, so a command's history survives restarts and is auditable. Both are keyed by tenant
first; ``(tenant, id)`` is the client-supplied command id, which makes a retried POST idempotent.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text

from tvilling.adapters.sql.schema import Document, metadata

commands = Table(
    "commands",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("twin_id", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    Column("payload", Document, nullable=True),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("transport", String(32), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("context_id", String(32), nullable=False),
    Column("parent_id", String(32), nullable=True),
    Column("actor", String(200), nullable=False),
    # SHA-256 of (twin, name, payload): a retried id with a different request is a conflict, not a replay.
    Column("request_digest", String(64), nullable=False),
    # Guarded commands (0012): approvals needed, and the deadline counted from the last approval.
    Column("approvals_required", Integer, nullable=False, server_default="0"),
    Column("timeout_s", Float, nullable=True),
    # Supervisory lease (0014): the device keeps the value only while the requester renews it (C-13).
    Column("lease_s", Float, nullable=True),
    Index("ix_commands_tenant_twin", "tenant", "twin_id", "requested_at"),
    Index("ix_commands_open", "state", "expires_at"),
)

command_transitions = Table(
    "command_transitions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("command_id", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("detail", Document, nullable=False),
    Column("late", Boolean, nullable=False, default=False),
    Index("ix_command_transitions_command", "tenant", "command_id", "seq"),
)

# One row per approval of a guarded command; the (tenant, command, actor) key makes "two distinct approvers" a
# database fact, not only a check in the service.
command_approvals = Table(
    "command_approvals",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("command_id", String(128), primary_key=True),
    Column("actor", String(200), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

# An engaged kill switch is a row: scope "*" stops every command of the tenant, a twin id that twin's. Kept in the
# database so it survives restarts and holds for every server of the tenant.
kill_switches = Table(
    "kill_switches",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("scope", String(512), primary_key=True),
    Column("engaged_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)
