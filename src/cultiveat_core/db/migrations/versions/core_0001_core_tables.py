"""core tables

Revision ID: core_0001
Revises:
Create Date: 2026-11-23 14:30:50.836332
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cultiveat_core.db.metadata import UTCDateTime

revision: str = 'core_0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ('core',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('core_audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('object_type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=100), nullable=True),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_audit_log'))
    )
    with op.batch_alter_table('core_audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_core_audit_log_object', ['object_type', 'object_id'], unique=False)

    op.create_table('core_companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_companies')),
    sa.UniqueConstraint('name_key', name=op.f('uq_core_companies_name_key'))
    )
    op.create_table('core_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', UTCDateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress_done', sa.Integer(), nullable=True),
    sa.Column('progress_total', sa.Integer(), nullable=True),
    sa.Column('progress_message', sa.String(length=500), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_jobs'))
    )
    with op.batch_alter_table('core_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_core_jobs_status_run_at', ['status', 'run_at'], unique=False)

    op.create_table('core_schedules',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('last_run_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_core_schedules'))
    )
    op.create_table('core_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('name_key', sa.String(length=30), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_tags')),
    sa.UniqueConstraint('name_key', name=op.f('uq_core_tags_name_key'))
    )
    op.create_table('core_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('role', sa.String(length=50), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_users')),
    sa.UniqueConstraint('email', name=op.f('uq_core_users_email'))
    )
    op.create_table('core_api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['core_users.id'], name=op.f('fk_core_api_tokens_user_id_core_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_core_api_tokens_token_hash'))
    )
    with op.batch_alter_table('core_api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('core_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('position', sa.String(length=200), nullable=True),
    sa.Column('company', sa.String(length=200), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('company_size', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=50), nullable=True),
    sa.Column('type', sa.String(length=50), nullable=True),
    sa.Column('channel', sa.String(length=50), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('address_street', sa.String(length=200), nullable=True),
    sa.Column('address_city', sa.String(length=100), nullable=True),
    sa.Column('address_state', sa.String(length=100), nullable=True),
    sa.Column('address_zip', sa.String(length=20), nullable=True),
    sa.Column('address_country', sa.String(length=2), nullable=True),
    sa.Column('social', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_activity_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['core_companies.id'], name=op.f('fk_core_contacts_company_id_core_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['core_users.id'], name=op.f('fk_core_contacts_created_by_core_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['core_users.id'], name=op.f('fk_core_contacts_owner_id_core_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_contacts')),
    sa.UniqueConstraint('email_key', name=op.f('uq_core_contacts_email_key'))
    )
    with op.batch_alter_table('core_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_contacts_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_core_contacts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_core_contacts_last_activity_at'), ['last_activity_at'], unique=False)
        batch_op.create_index('ix_core_contacts_last_name_id', ['last_name', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_core_contacts_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_core_contacts_stage_id', ['stage', 'id'], unique=False)

    op.create_table('core_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['core_users.id'], name=op.f('fk_core_activities_actor_id_core_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['core_contacts.id'], name=op.f('fk_core_activities_contact_id_core_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_activities'))
    )
    with op.batch_alter_table('core_activities', schema=None) as batch_op:
        batch_op.create_index('ix_core_activities_contact_occurred', ['contact_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_core_activities_type_occurred', ['type', 'occurred_at'], unique=False)

    op.create_table('core_contact_tags',
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), server_default='manual', nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['core_contacts.id'], name=op.f('fk_core_contact_tags_contact_id_core_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['core_tags.id'], name=op.f('fk_core_contact_tags_tag_id_core_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'tag_id', name=op.f('pk_core_contact_tags'))
    )
    with op.batch_alter_table('core_contact_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_contact_tags_tag_id'), ['tag_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('core_contact_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_contact_tags_tag_id'))

    op.drop_table('core_contact_tags')
    with op.batch_alter_table('core_activities', schema=None) as batch_op:
        batch_op.drop_index('ix_core_activities_type_occurred')
        batch_op.drop_index('ix_core_activities_contact_occurred')

    op.drop_table('core_activities')
    with op.batch_alter_table('core_contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_core_contacts_stage_id')
        batch_op.drop_index(batch_op.f('ix_core_contacts_owner_id'))
        batch_op.drop_index('ix_core_contacts_last_name_id')
        batch_op.drop_index(batch_op.f('ix_core_contacts_last_activity_at'))
        batch_op.drop_index(batch_op.f('ix_core_contacts_created_at'))
        batch_op.drop_index(batch_op.f('ix_core_contacts_company_id'))

    op.drop_table('core_contacts')
    with op.batch_alter_table('core_api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_api_tokens_user_id'))

    op.drop_table('core_api_tokens')
    op.drop_table('core_users')
    op.drop_table('core_tags')
    op.drop_table('core_schedules')
    with op.batch_alter_table('core_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_core_jobs_status_run_at')

    op.drop_table('core_jobs')
    op.drop_table('core_companies')
    with op.batch_alter_table('core_audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_core_audit_log_object')

    op.drop_table('core_audit_log')

