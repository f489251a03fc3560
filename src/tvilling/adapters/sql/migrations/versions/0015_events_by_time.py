"""events: an index by (tenant, subject, time), for "what happened to these twins between then and then"

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema.py (checked by tests/integration/store).
    op.create_index('ix_events_tenant_subject_time', 'events', ['tenant', 'subject', 'time'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_tenant_subject_time', table_name='events')
