"""samples_recent: an append-only table for small ingest commits (SQLite)

Revision ID: 0007
Revises: 0006

Why: a small commit of a 100-series stream inserted one row into ~100 different ``samples`` leaves, so SQLite wrote
~100 pages to the WAL and fsynced them every commit: ~100 MB/s of WAL at 10 000 points/s for ~400 KB/s of samples,
and the storage stalls behind the ingest latency tails. Appending to a table without an index dirties a page or
two; the store moves the rows into ``samples`` in key order every few thousand rows
(``bench/ingest_dev/layout_probe.py``: 412 -> 18 KiB of WAL and 1.4 -> 0.4 ms of CPU per 8-message commit).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'samples_recent',
        sa.Column('series_id', sa.BigInteger(), nullable=False),
        sa.Column('source_time', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('value_json', sa.JSON(), nullable=True),
        sa.Column('quality', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=48), nullable=False),
        sa.Column('unit', sa.String(length=64), nullable=True),
        sa.Column('received_at', sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    # Rows not merged yet go back to samples first: nothing committed is lost.
    op.execute("INSERT INTO samples (series_id, source_time, value, value_json, quality, reason, unit, received_at) "
               "SELECT series_id, source_time, value, value_json, quality, reason, unit, received_at "
               "FROM samples_recent WHERE true ON CONFLICT DO NOTHING")
    op.drop_table('samples_recent')
