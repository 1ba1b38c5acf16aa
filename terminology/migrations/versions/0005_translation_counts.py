"""translation counts for coverage reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 23:53:45.072581
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('translation_counts',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('source_system', sa.String(length=255), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=False),
    sa.Column('context', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'source_system', 'sender', 'context', 'status', 'rule', name=op.f('pk_translation_counts'))
    )
    with op.batch_alter_table('translation_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_translation_counts_day'), ['day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('translation_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_translation_counts_day'))

    op.drop_table('translation_counts')
