"""progress entries: a goal's newest live entry from one index entry (the inbox preview)

Revision ID: f4a8c2e6d1b9
Revises: e3d9a1c4b7f2
Create Date: 2026-12-02 07:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f4a8c2e6d1b9"
down_revision = "e3d9a1c4b7f2"
branch_labels = None
depends_on = None


def upgrade():
    # ix_progress_entries_goal_days orders a day's entries by value, not id: the
    # inbox's "newest entry" sorted a goal's whole newest day on every view.
    live = sa.text("deleted_at IS NULL")
    op.create_index(
        "ix_progress_entries_goal_newest",
        "progress_entries",
        ["goal_id", "entry_date", "id"],
        unique=False,
        sqlite_where=live,
        postgresql_where=live,
    )


def downgrade():
    op.drop_index("ix_progress_entries_goal_newest", table_name="progress_entries")
