"""mapping layer: curated mapping versions, review queue, idempotent requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:59:33.368023
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotent_requests',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('route', sa.String(length=255), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', 'route', name=op.f('pk_idempotent_requests'))
    )
    op.create_table('mapping_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('mapping_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source_system', sa.String(length=255), nullable=False),
    sa.Column('source_code', sa.String(length=128), nullable=False),
    sa.Column('source_text_norm', sa.Text(), nullable=False),
    sa.Column('context', sa.String(length=16), nullable=False),
    sa.Column('target_system', sa.String(length=255), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mapping_versions')),
    sa.UniqueConstraint('mapping_id', 'version', name=op.f('uq_mapping_versions_mapping_id_version'))
    )
    with op.batch_alter_table('mapping_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mapping_versions_source_system_source_code_context_target_system'), ['source_system', 'source_code', 'context', 'target_system'], unique=False)
        batch_op.create_index(batch_op.f('ix_mapping_versions_source_system_source_text_norm_context_target_system'), ['source_system', 'source_text_norm', 'context', 'target_system'], unique=False)

    op.create_table('review_entries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source_system', sa.String(length=255), nullable=False),
    sa.Column('source_code', sa.String(length=128), nullable=False),
    sa.Column('text_norm', sa.Text(), nullable=False),
    sa.Column('context', sa.String(length=16), nullable=False),
    sa.Column('original', sa.JSON(), nullable=False),
    sa.Column('target_system', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_entries')),
    sa.UniqueConstraint('source_system', 'source_code', 'text_norm', 'context', name=op.f('uq_review_entries_source_system_source_code_text_norm_context'))
    )
    with op.batch_alter_table('review_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_entries_status_occurrences'), ['status', 'occurrences'], unique=False)

    op.create_table('mapping_targets',
    sa.Column('version_row', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('display', sa.Text(), nullable=True),
    sa.Column('relationship', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['version_row'], ['mapping_versions.id'], name=op.f('fk_mapping_targets_version_row_mapping_versions'))
    )
    with op.batch_alter_table('mapping_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mapping_targets_system_code'), ['system', 'code'], unique=False)
        batch_op.create_index(batch_op.f('ix_mapping_targets_version_row'), ['version_row'], unique=False)

    op.create_table('review_senders',
    sa.Column('entry_id', sa.String(length=36), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['review_entries.id'], name=op.f('fk_review_senders_entry_id_review_entries')),
    sa.UniqueConstraint('entry_id', 'sender', name=op.f('uq_review_senders_entry_id_sender'))
    )


def downgrade() -> None:
    op.drop_table('review_senders')
    with op.batch_alter_table('mapping_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mapping_targets_version_row'))
        batch_op.drop_index(batch_op.f('ix_mapping_targets_system_code'))

    op.drop_table('mapping_targets')
    with op.batch_alter_table('review_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_entries_status_occurrences'))

    op.drop_table('review_entries')
    with op.batch_alter_table('mapping_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mapping_versions_source_system_source_text_norm_context_target_system'))
        batch_op.drop_index(batch_op.f('ix_mapping_versions_source_system_source_code_context_target_system'))

    op.drop_table('mapping_versions')
    op.drop_table('idempotent_requests')
