"""goal revision: the goal page's cache key

Revision ID: 5b7c2e9d4a10
Revises: ae96b5d8a879
Create Date: 2026-11-26 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b7c2e9d4a10'
down_revision = 'ae96b5d8a879'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('revision', sa.BigInteger(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.drop_column('revision')
