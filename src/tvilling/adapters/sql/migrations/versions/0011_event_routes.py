"""event_routes, event_deliveries: outbound webhooks (event routes) with a durable cursor over the event log, and
their delivery log with dead letters

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (frozen here, as in 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_event_routes.py (checked by tests/integration/store).
    op.create_table(
        'event_routes',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('filter', Document, nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('paused_reason', sa.String(length=500), nullable=True),
        sa.Column('secret_version', sa.Integer(), nullable=False),
        sa.Column('cursor_seq', sa.BigInteger(), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=1000), nullable=True),
        sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_owner', sa.String(length=32), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=200), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_event_routes')),
    )
    op.create_index('ux_event_routes_tenant_name', 'event_routes', ['tenant', 'name'], unique=True)
    op.create_table(
        'event_deliveries',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('route_id', sa.String(length=32), nullable=False),
        sa.Column('event_seq', sa.BigInteger(), nullable=False),
        sa.Column('event_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=512), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=1000), nullable=True),
        sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_deliveries')),
    )
    op.create_index('ux_event_deliveries_route_seq', 'event_deliveries', ['tenant', 'route_id', 'event_seq'],
                    unique=True)
    op.create_index('ix_event_deliveries_route_status', 'event_deliveries', ['tenant', 'route_id', 'status', 'id'])


def downgrade() -> None:
    op.drop_index('ix_event_deliveries_route_status', table_name='event_deliveries')
    op.drop_index('ux_event_deliveries_route_seq', table_name='event_deliveries')
    op.drop_table('event_deliveries')
    op.drop_index('ux_event_routes_tenant_name', table_name='event_routes')
    op.drop_table('event_routes')
