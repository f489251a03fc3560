"""The hash-chained audit trail (tvilling.core.audit): one chain per tenant, and its head.

``audit_log`` stores each record's canonical text as it was hashed, so verification needs nothing but this
table; ``audit_heads`` holds the last position and hash per tenant and is locked by every append, which keeps the
chain linear when several servers write at once.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, String, Table, Text

from tvilling.adapters.sql.schema import metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("n", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("category", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("text", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_subject", "tenant", "subject", "n"),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
