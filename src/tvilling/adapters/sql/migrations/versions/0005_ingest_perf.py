"""ingestion storage tuning: samples as a WITHOUT ROWID table on SQLite

Revision ID: 0005
Revises: 0004

Why: a rowid table with a 4-column primary key stores every sample twice (the table b-tree and the key index)
and each insert walks both. WITHOUT ROWID keeps the row in the key's b-tree, which measured ~15 % less CPU per
inserted sample at ingest. SQLite cannot change this in place, so the table is rebuilt (rows copied in key
order). PostgreSQL has no such option; nothing changes there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_COLUMNS = "tenant, twin_id, name, source_time, value, value_json, quality, reason, unit, received_at"


def _samples(name: str, *, with_rowid: bool) -> None:
    op.create_table(name,
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('source_time', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('value_json', sa.JSON(), nullable=True),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'twin_id', 'name', 'source_time', name=op.f('pk_samples')),
    sqlite_with_rowid=with_rowid,
    )


def _rebuild(*, with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    _samples('samples_rebuild', with_rowid=with_rowid)
    op.execute(f"INSERT INTO samples_rebuild ({_COLUMNS}) SELECT {_COLUMNS} FROM samples "
               "ORDER BY tenant, twin_id, name, source_time")
    op.drop_table('samples')
    op.rename_table('samples_rebuild', 'samples')


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
