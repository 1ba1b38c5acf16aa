"""concept store: releases and release-scoped content

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 22:54:17.136826
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('releases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('effective_date', sa.String(length=8), nullable=True),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('row_counts', sa.JSON(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_releases'))
    )
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_releases_checksum'), ['checksum'], unique=False)
        batch_op.create_index(batch_op.f('ix_releases_system_status'), ['system', 'status'], unique=False)
        batch_op.create_index('uq_releases_one_active_per_system', ['system'], unique=True,
                              sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.create_table('associations',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('source_code', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('target_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_associations_release_id_releases'), ondelete='CASCADE')
    )
    with op.batch_alter_table('associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_associations_release_id_source_code'), ['release_id', 'source_code'], unique=False)

    op.create_table('concepts',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_concepts_release_id_releases'), ondelete='CASCADE')
    )
    with op.batch_alter_table('concepts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_concepts_release_id_code'), ['release_id', 'code'], unique=True)

    op.create_table('crosswalks',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('other_system', sa.String(length=255), nullable=False),
    sa.Column('other_code', sa.String(length=64), nullable=False),
    sa.Column('other_display', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_crosswalks_release_id_releases'), ondelete='CASCADE')
    )
    with op.batch_alter_table('crosswalks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crosswalks_release_id_code'), ['release_id', 'code'], unique=False)
        batch_op.create_index(batch_op.f('ix_crosswalks_release_id_other_system_other_code'), ['release_id', 'other_system', 'other_code'], unique=False)

    op.create_table('designations',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('term', sa.Text(), nullable=False),
    sa.Column('term_norm', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('preferred', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_designations_release_id_releases'), ondelete='CASCADE')
    )
    with op.batch_alter_table('designations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_designations_release_id_code'), ['release_id', 'code'], unique=False)
        batch_op.create_index(batch_op.f('ix_designations_release_id_term_norm'), ['release_id', 'term_norm'], unique=False)

    op.create_table('load_issues',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('file', sa.Text(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_load_issues_release_id_releases'), ondelete='CASCADE')
    )
    with op.batch_alter_table('load_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_issues_release_id'), ['release_id'], unique=False)

    op.create_table('relationships',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('source_code', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('target_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_relationships_release_id_releases'), ondelete='CASCADE')
    )
    with op.batch_alter_table('relationships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relationships_release_id_source_code_type'), ['release_id', 'source_code', 'type'], unique=False)
        batch_op.create_index(batch_op.f('ix_relationships_release_id_target_code_type'), ['release_id', 'target_code', 'type'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('relationships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relationships_release_id_target_code_type'))
        batch_op.drop_index(batch_op.f('ix_relationships_release_id_source_code_type'))

    op.drop_table('relationships')
    with op.batch_alter_table('load_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_issues_release_id'))

    op.drop_table('load_issues')
    with op.batch_alter_table('designations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_designations_release_id_term_norm'))
        batch_op.drop_index(batch_op.f('ix_designations_release_id_code'))

    op.drop_table('designations')
    with op.batch_alter_table('crosswalks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crosswalks_release_id_other_system_other_code'))
        batch_op.drop_index(batch_op.f('ix_crosswalks_release_id_code'))

    op.drop_table('crosswalks')
    with op.batch_alter_table('concepts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_concepts_release_id_code'))

    op.drop_table('concepts')
    with op.batch_alter_table('associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_associations_release_id_source_code'))

    op.drop_table('associations')
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_index('uq_releases_one_active_per_system')
        batch_op.drop_index(batch_op.f('ix_releases_system_status'))
        batch_op.drop_index(batch_op.f('ix_releases_checksum'))

    op.drop_table('releases')
