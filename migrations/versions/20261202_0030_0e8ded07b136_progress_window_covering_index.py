"""progress entries: one index covers the daily sums (goal, day, deleted, value, done)

Revision ID: 0e8ded07b136
Revises: d7a3b1e5f902
Create Date: 2026-12-02 00:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0e8ded07b136'
down_revision = 'd7a3b1e5f902'
branch_labels = None
depends_on = None


def upgrade():
    # The entry POST's two-week window and the goal page's daily sums read only
    # these columns: from the index alone, not one table row per entry.
    with op.batch_alter_table('progress_entries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_progress_entries_goal_days',
            ['goal_id', 'entry_date', 'deleted_at', 'value', 'done'],
            unique=False,
        )
        batch_op.drop_index('ix_progress_entries_goal_date')


def downgrade():
    with op.batch_alter_table('progress_entries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_progress_entries_goal_date', ['goal_id', 'entry_date'], unique=False
        )
        batch_op.drop_index('ix_progress_entries_goal_days')
