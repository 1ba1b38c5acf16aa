"""curation: review workflow columns, api keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 23:35:15.954689
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_sha256', name=op.f('uq_api_keys_key_sha256'))
    )
    with op.batch_alter_table('review_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('claim_expires', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('mapping_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('requeue_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('suggestion', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('review_entries', schema=None) as batch_op:
        batch_op.drop_column('suggestion')
        batch_op.drop_column('requeue_reason')
        batch_op.drop_column('mapping_id')
        batch_op.drop_column('comment')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decided_by')
        batch_op.drop_column('decision')
        batch_op.drop_column('claim_expires')
        batch_op.drop_column('claimed_by')

    op.drop_table('api_keys')
