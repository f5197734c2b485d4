"""audit: the chain's lock and last row in one statement on PostgreSQL

`audit_chain_head()` takes the chain's advisory lock and then reads the last
row, each with its own snapshot (portal/audit/head.py): a sealed row costs one
round trip fewer. Nothing changes on SQLite.

Revision ID: c8e2f4a6b1d3
Revises: b5d2e8f1c3a7
Create Date: 2026-12-03 11:20:00

"""

from alembic import op

from portal.audit import head

# revision identifiers, used by Alembic.
revision = "c8e2f4a6b1d3"
down_revision = "b5d2e8f1c3a7"
branch_labels = None
depends_on = None


def upgrade():
    head.create(op.get_bind())


def downgrade():
    head.drop(op.get_bind())
