"""Tables of the registry feature, on the shared metadata of :mod:`tvilling.adapters.sql.schema`.

One row per registered model version. ``artifact`` holds the bytes in the format named by ``format`` (the
platform's own JSON formats, see :mod:`tvilling.ml.artifact`; never pickles). ``replaced_version`` is the
production version this one replaced when it was last promoted: rolling back re-promotes it, so successive
roll-backs walk back through the promotion history like a stack.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, String, Table

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
