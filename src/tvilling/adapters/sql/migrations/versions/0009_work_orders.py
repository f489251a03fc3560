"""work_orders, work_order_transitions, work_order_settings: maintenance work orders raised from insights, their
audit trail, and each tenant's cap on the policy mode (the runtime kill switch)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (frozen here, as in 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_work_orders.py (checked by tests/integration/store).
    op.create_table(
        'work_orders',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('twin_id', sa.String(length=512), nullable=False),
        sa.Column('rule_id', sa.String(length=200), nullable=True),
        sa.Column('title', sa.String(length=500), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('evidence', Document, nullable=False),
        sa.Column('due_by', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_by', sa.String(length=200), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_work_orders')),
    )
    op.create_index('ix_work_orders_tenant_state', 'work_orders', ['tenant', 'state'], unique=False)
    op.create_index('ix_work_orders_tenant_twin', 'work_orders', ['tenant', 'twin_id', 'rule_id'], unique=False)
    op.create_index('ix_work_orders_tenant_created', 'work_orders', ['tenant', 'created_at'], unique=False)
    live_rule = sa.text("rule_id IS NOT NULL AND state IN ('proposed', 'open')")
    op.create_index('ux_work_orders_live_rule', 'work_orders', ['tenant', 'twin_id', 'rule_id'], unique=True,
                    postgresql_where=live_rule, sqlite_where=live_rule)
    op.create_table(
        'work_order_transitions',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('work_order_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('context_id', sa.String(length=32), nullable=False),
        sa.Column('parent_id', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_work_order_transitions')),
    )
    op.create_index('ix_work_order_transitions_order', 'work_order_transitions',
                    ['tenant', 'work_order_id', 'seq'], unique=False)
    op.create_table(
        'work_order_settings',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=200), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('tenant', name=op.f('pk_work_order_settings')),
    )


def downgrade() -> None:
    op.drop_table('work_order_settings')
    op.drop_index('ix_work_order_transitions_order', table_name='work_order_transitions')
    op.drop_table('work_order_transitions')
    op.drop_index('ux_work_orders_live_rule', table_name='work_orders')
    op.drop_index('ix_work_orders_tenant_created', table_name='work_orders')
    op.drop_index('ix_work_orders_tenant_twin', table_name='work_orders')
    op.drop_index('ix_work_orders_tenant_state', table_name='work_orders')
    op.drop_table('work_orders')
