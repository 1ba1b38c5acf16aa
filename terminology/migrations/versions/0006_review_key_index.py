"""review entries: key index not unique (the id already is)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:20:39.568626
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_review_entries_source_system_source_code_text_norm_context'), type_='unique')
        batch_op.create_index(batch_op.f('ix_review_entries_source_system_source_code_text_norm_context'), ['source_system', 'source_code', 'text_norm', 'context'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('review_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_entries_source_system_source_code_text_norm_context'))
        batch_op.create_unique_constraint(batch_op.f('uq_review_entries_source_system_source_code_text_norm_context'), ['source_system', 'source_code', 'text_norm', 'context'])

