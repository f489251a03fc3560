"""Tables of the registry feature, on the shared metadata of :mod:`tvilling.adapters.sql.schema`.

One row per registered model version. ``artifact`` holds the bytes in the format named by ``format`` (the
platform's own JSON formats, see :mod:`tvilling.ml.artifact`; never pickles). ``replaced_version`` is the
production version this one replaced when it was last promoted: rolling back re-promotes it, so successive
roll-backs walk back through the promotion history like a stack.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, LargeBinary, String, Table

from tvilling.adapters.sql.schema import Document, metadata

ml_models = Table(
    "ml_models",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(600), primary_key=True),
    Column("version", Integer, primary_key=True),  # 1, 2, … per (tenant, name)
    Column("kind", String(16), nullable=False),  # anomaly | rul
    Column("stage", String(16), nullable=False),  # candidate | production | archived
    Column("format", String(64), nullable=False),
    Column("artifact", LargeBinary, nullable=False),
    Column("metrics", Document, nullable=False),
    Column("training", Document, nullable=False),  # {"start", "end", "twins", "points"}
    Column("parameters", Document, nullable=False),
    Column("lineage", Document, nullable=False),  # {"parent_version", "data_fingerprint", "code_version", "reason"}
    Column("replaced_version", Integer, nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("promoted_at", DateTime(timezone=True), nullable=True),
)

# Training jobs of fleet RUL models (tvilling.app.rul_jobs): one row per job, kept so that a job's outcome survives
# a restart. ``heartbeat_at`` is renewed by the process that holds the job while it is queued or running; a queued
# or running row whose heartbeat has gone stale belongs to a process that stopped, and reads as interrupted.
ml_jobs = Table(
    "ml_jobs",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(600), nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | succeeded | failed
    Column("promote", Boolean, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=True),
    Column("summary", Document, nullable=False),
    Column("error", String(2000), nullable=True),
    Index("ix_ml_jobs_tenant_created", "tenant", "created_at"),
)
