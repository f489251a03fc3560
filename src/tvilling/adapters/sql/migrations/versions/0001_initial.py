"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 18:29:20.515207
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (frozen here: later schema changes need a new revision).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Generated from schema.py at the time of the first release; later changes get their own revision.
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens'))
    )
    op.create_table('events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=512), nullable=False),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('context_id', sa.String(length=32), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('data', Document, nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_context', ['context_id'], unique=False)
        batch_op.create_index('ix_events_tenant_subject', ['tenant', 'subject', 'seq'], unique=False)

    op.create_table('models',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=512), nullable=False),
    sa.Column('document', Document, nullable=False),
    sa.Column('display_name', sa.String(length=512), nullable=True),
    sa.Column('decommissioned', sa.Boolean(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_models'))
    )
    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=1024), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=True),
    sa.Column('name', sa.String(length=512), nullable=True),
    sa.Column('reason', sa.String(length=48), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index('ix_quarantine_tenant_reason', ['tenant', 'reason'], unique=False)

    op.create_table('rollups',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('width_s', sa.Integer(), nullable=False),
    sa.Column('bucket_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('sum', sa.Float(), nullable=False),
    sa.Column('min', sa.Float(), nullable=False),
    sa.Column('max', sa.Float(), nullable=False),
    sa.Column('last', sa.Float(), nullable=False),
    sa.Column('last_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'twin_id', 'name', 'width_s', 'bucket_start', name=op.f('pk_rollups'))
    )
    op.create_table('samples',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('twin_id', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('source_time', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('value_json', sa.JSON(), nullable=True),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'twin_id', 'name', 'source_time', name=op.f('pk_samples'))
    )
    op.create_table('tenants',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants'))
    )
    op.create_table('twins',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=512), nullable=False),
    sa.Column('model_id', sa.String(length=512), nullable=False),
    sa.Column('contents', Document, nullable=False),
    sa.Column('meta', Document, nullable=False),
    sa.Column('etag', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_update_time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_twins'))
    )
    with op.batch_alter_table('twins', schema=None) as batch_op:
        batch_op.create_index('ix_twins_tenant_model', ['tenant', 'model_id'], unique=False)

    op.create_table('relationships',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('source_id', sa.String(length=512), nullable=False),
    sa.Column('id', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('target_id', sa.String(length=512), nullable=False),
    sa.Column('properties', Document, nullable=False),
    sa.Column('etag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['tenant', 'source_id'], ['twins.tenant', 'twins.id'], name='fk_rel_source'),
    sa.ForeignKeyConstraint(['tenant', 'target_id'], ['twins.tenant', 'twins.id'], name='fk_rel_target'),
    sa.PrimaryKeyConstraint('tenant', 'source_id', 'id', name=op.f('pk_relationships'))
    )
    with op.batch_alter_table('relationships', schema=None) as batch_op:
        batch_op.create_index('ix_relationships_source_name', ['tenant', 'source_id', 'name'], unique=False)
        batch_op.create_index('ix_relationships_target', ['tenant', 'target_id'], unique=False)



def downgrade() -> None:
    # Generated from schema.py at the time of the first release; later changes get their own revision.
    with op.batch_alter_table('relationships', schema=None) as batch_op:
        batch_op.drop_index('ix_relationships_target')
        batch_op.drop_index('ix_relationships_source_name')

    op.drop_table('relationships')
    with op.batch_alter_table('twins', schema=None) as batch_op:
        batch_op.drop_index('ix_twins_tenant_model')

    op.drop_table('twins')
    op.drop_table('tenants')
    op.drop_table('samples')
    op.drop_table('rollups')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_tenant_reason')

    op.drop_table('quarantine')
    op.drop_table('models')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_tenant_subject')
        batch_op.drop_index('ix_events_context')

    op.drop_table('events')
    op.drop_table('api_tokens')
