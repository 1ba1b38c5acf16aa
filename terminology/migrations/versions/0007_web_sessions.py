"""web sessions in the store, shared by every worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 04:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('id_sha256', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.String(length=36), nullable=False),
        sa.Column('key_name', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created', sa.Float(), nullable=False),
        sa.Column('last_seen', sa.Float(), nullable=False),
        sa.Column('key_checked', sa.Float(), nullable=False),
        sa.Column('flashes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id_sha256', name=op.f('pk_web_sessions')),
    )
    op.create_index(op.f('ix_web_sessions_key_id'), 'web_sessions', ['key_id'], unique=False)
    op.create_index(op.f('ix_web_sessions_last_seen'), 'web_sessions', ['last_seen'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_web_sessions_last_seen'), table_name='web_sessions')
    op.drop_index(op.f('ix_web_sessions_key_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
