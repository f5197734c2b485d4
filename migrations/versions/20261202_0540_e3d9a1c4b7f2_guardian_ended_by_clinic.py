"""guardian access ended by the clinic

caregiver_grants.end_cause and end_note: why clinic staff ended a guardian's
access (a reason from a list) and what they wrote for the record. Plain
ADD COLUMN keeps the table's data-version triggers on SQLite (no table is
recreated).

Revision ID: e3d9a1c4b7f2
Revises: b7e4a2c9d1f3
Create Date: 2026-12-02 05:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e3d9a1c4b7f2'
down_revision = 'b7e4a2c9d1f3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('caregiver_grants', sa.Column('end_cause', sa.String(length=30), nullable=True))
    op.add_column('caregiver_grants', sa.Column('end_note', sa.String(length=500), nullable=True))


def downgrade():
    op.drop_column('caregiver_grants', 'end_note')
    op.drop_column('caregiver_grants', 'end_cause')
