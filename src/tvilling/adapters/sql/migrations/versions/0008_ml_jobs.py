"""ml_jobs: training jobs of fleet RUL models, so that a job's outcome survives a restart

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (frozen here, as in 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ml_jobs',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=600), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('promote', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('summary', Document, nullable=False),
        sa.Column('error', sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_ml_jobs')),
    )
    op.create_index('ix_ml_jobs_tenant_created', 'ml_jobs', ['tenant', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ml_jobs_tenant_created', table_name='ml_jobs')
    op.drop_table('ml_jobs')
