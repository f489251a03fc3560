"""commands: supervisory lease (the device keeps the value only while the requester renews it)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_commands.py (checked by tests/integration/store).
    with op.batch_alter_table('commands') as batch:
        batch.add_column(sa.Column('lease_s', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('commands') as batch:
        batch.drop_column('lease_s')
