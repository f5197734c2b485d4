"""users.activated_at: accounts the practice enrols wait for their owner's first password

Revision ID: a6c3e1f0b8d4
Revises: 0e8ded07b136
Create Date: 2026-12-02 02:20:00

"""
from alembic import op
import sqlalchemy as sa

import portal.db


# revision identifiers, used by Alembic.
revision = 'a6c3e1f0b8d4'
down_revision = '0e8ded07b136'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN, not a batch: recreating `users` on SQLite would drop
    # its page-version trigger. Every account that exists chose its password.
    op.add_column(
        'users', sa.Column('activated_at', portal.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE users SET activated_at = created_at")


def downgrade():
    op.drop_column('users', 'activated_at')
