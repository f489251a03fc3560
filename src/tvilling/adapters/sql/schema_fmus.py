"""The FMU library: uploaded co-simulation FMUs, per tenant, on the shared metadata of
:mod:`tvilling.adapters.sql.schema`.

``artifact`` holds the .fmu file as uploaded; ``info`` what its modelDescription.xml declares (FMI version,
platforms, default experiment, variables), read once at upload so lists never unpack a zip. One content per tenant:
``sha256`` is unique within a tenant, so the same file uploaded twice is one entry.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, String, Table

from tvilling.adapters.sql.schema import Document, metadata

fmus = Table(
    "fmus",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("fmi_version", String(16), nullable=False),
    Column("model_name", String(500), nullable=False),
    Column("info", Document, nullable=False),
    Column("artifact", LargeBinary, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ux_fmus_tenant_sha256", "tenant", "sha256", unique=True),
)
