"""model registry (versioned ML artifacts)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (frozen here, as in 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ml_models',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=600), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('format', sa.String(length=64), nullable=False),
    sa.Column('artifact', sa.LargeBinary(), nullable=False),
    sa.Column('metrics', Document, nullable=False),
    sa.Column('training', Document, nullable=False),
    sa.Column('parameters', Document, nullable=False),
    sa.Column('lineage', Document, nullable=False),
    sa.Column('replaced_version', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'name', 'version', name=op.f('pk_ml_models'))
    )


def downgrade() -> None:
    op.drop_table('ml_models')
