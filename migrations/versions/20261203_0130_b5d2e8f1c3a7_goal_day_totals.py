"""goals: each day's entries added up by triggers (goal_day_totals)

Posting an entry recomputed its goal's achievement from two weeks of entries,
added up on every POST: a cost that grew with every entry logged. The days are
now kept added up by the database itself (portal/goals/day_totals.py), so any
writer keeps them right and readers read one row a day.

Revision ID: b5d2e8f1c3a7
Revises: a9c3e5f7b2d4
Create Date: 2026-12-03 01:30:00

"""

import sqlalchemy as sa
from alembic import op

from portal.goals import day_totals

# revision identifiers, used by Alembic.
revision = "b5d2e8f1c3a7"
down_revision = "a9c3e5f7b2d4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "goal_day_totals",
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("total", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("valued", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goals.id"],
            name=op.f("fk_goal_day_totals_goal_id_goals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("goal_id", "entry_date", name=op.f("pk_goal_day_totals")),
    )
    conn = op.get_bind()
    day_totals.create(conn)
    day_totals.fill(conn)


def downgrade():
    day_totals.drop(op.get_bind())
    op.drop_table("goal_day_totals")
