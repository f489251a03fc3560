"""fmus: the FMU library (uploaded co-simulation FMUs with what their model descriptions declare)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (frozen here, as in 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_fmus.py (checked by tests/integration/store).
    op.create_table(
        'fmus',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('fmi_version', sa.String(length=16), nullable=False),
        sa.Column('model_name', sa.String(length=500), nullable=False),
        sa.Column('info', Document, nullable=False),
        sa.Column('artifact', sa.LargeBinary(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_fmus')),
    )
    op.create_index('ux_fmus_tenant_sha256', 'fmus', ['tenant', 'sha256'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_fmus_tenant_sha256', table_name='fmus')
    op.drop_table('fmus')
