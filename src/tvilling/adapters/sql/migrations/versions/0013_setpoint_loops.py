"""setpoint loops: autonomy state and proposals

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_setpoints.py (checked by tests/integration/store).
    op.create_table(
        'setpoint_loops',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('suspended_reason', sa.Text(), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_by', sa.String(length=200), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'name', name=op.f('pk_setpoint_loops')),
    )
    op.create_table(
        'setpoint_proposals',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('loop', sa.String(length=100), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decision', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_setpoint_proposals')),
    )
    op.create_index('ix_setpoint_proposals_loop', 'setpoint_proposals', ['tenant', 'loop', 'created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_setpoint_proposals_loop', table_name='setpoint_proposals')
    op.drop_table('setpoint_proposals')
    op.drop_table('setpoint_loops')
