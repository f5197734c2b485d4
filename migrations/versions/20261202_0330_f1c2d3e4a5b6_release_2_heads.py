"""Release 2: join the features built side by side (accounts, caregivers, decisions, audit).

Each feature's migration starts from the same revision and touches its own
tables, so their order does not matter; this revision makes them one head.

Revision ID: f1c2d3e4a5b6
Revises: 9e8c697d65ec, a02bc7dc5682, c5ca842fce65, a6c3e1f0b8d4, a6d1f0c3e58b
Create Date: 2026-12-02 03:30:00
"""

revision = "f1c2d3e4a5b6"
down_revision = ("9e8c697d65ec", "a02bc7dc5682", "c5ca842fce65", "a6c3e1f0b8d4", "a6d1f0c3e58b")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
