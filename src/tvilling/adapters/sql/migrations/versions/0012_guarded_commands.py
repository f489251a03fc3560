"""guarded commands: approvals, kill switches, and the hash-chained audit trail

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Matches src/tvilling/adapters/sql/schema_commands.py and schema_audit.py (checked by tests/integration/store).
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approvals_required', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('timeout_s', sa.Float(), nullable=True))
    op.create_table(
        'command_approvals',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('command_id', sa.String(length=128), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'command_id', 'actor', name=op.f('pk_command_approvals')),
    )
    op.create_table(
        'kill_switches',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('scope', sa.String(length=512), nullable=False),
        sa.Column('engaged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'scope', name=op.f('pk_kill_switches')),
    )
    op.create_table(
        'audit_log',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('n', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=512), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'n', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_subject', 'audit_log', ['tenant', 'subject', 'n'], unique=False)
    op.create_table(
        'audit_heads',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('tenant', name=op.f('pk_audit_heads')),
    )


def downgrade() -> None:
    op.drop_table('audit_heads')
    op.drop_index('ix_audit_log_subject', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('kill_switches')
    op.drop_table('command_approvals')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_column('timeout_s')
        batch_op.drop_column('approvals_required')
