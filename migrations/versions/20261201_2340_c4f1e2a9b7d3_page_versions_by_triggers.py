"""page versions kept by the database: patients.data_version, page_versions, triggers

Replaces goals.revision (renewed by an ORM flush hook only) with versions
that triggers renew on any write, however it is made (portal/versions.py).

Revision ID: c4f1e2a9b7d3
Revises: 5b7c2e9d4a10
Create Date: 2026-12-01 23:40:00

"""
from alembic import op
import sqlalchemy as sa

from portal import versions

# revision identifiers, used by Alembic.
revision = 'c4f1e2a9b7d3'
down_revision = '5b7c2e9d4a10'
branch_labels = None
depends_on = None

# The tables this migration knows; later ones add their own triggers.
TABLES = (
    "concerns",
    "activities",
    "goals",
    "progress_entries",
    "goal_messages",
    "care_team_members",
    "plan_revisions",
)


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('data_version', sa.BigInteger(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.drop_column('revision')
    op.create_table(
        'page_versions',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('people', sa.BigInteger(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_page_versions')),
    )
    versions.create_triggers(op.get_bind(), TABLES)
    op.execute("UPDATE patients SET data_version = data_version + 1")


def downgrade():
    versions.drop_triggers(op.get_bind(), TABLES)
    op.drop_table('page_versions')
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('revision', sa.BigInteger(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('data_version')
