"""alarm rules state and alarm instances

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_alarms.py (checked by tests/integration/store).
    op.create_table('alarms',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('rule_id', sa.String(length=200), nullable=True),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_by', sa.String(length=200), nullable=True),
    sa.Column('ack_comment', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_alarms'))
    )
    op.create_index('ix_alarms_tenant_state', 'alarms', ['tenant', 'state'], unique=False)
    op.create_index('ix_alarms_tenant_twin', 'alarms', ['tenant', 'twin_id'], unique=False)
    op.create_table('alarm_transitions',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('alarm_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('context_id', sa.String(length=32), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_alarm_transitions'))
    )
    op.create_index('ix_alarm_transitions_alarm', 'alarm_transitions', ['tenant', 'alarm_id', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_alarm_transitions_alarm', table_name='alarm_transitions')
    op.drop_table('alarm_transitions')
    op.drop_index('ix_alarms_tenant_twin', table_name='alarms')
    op.drop_index('ix_alarms_tenant_state', table_name='alarms')
    op.drop_table('alarms')
