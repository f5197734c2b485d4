"""Release 2: one head for the features built side by side.

Accounts, sign-in, caregivers, decisions, preferences and the audit chain each
start from the same revision and touch different tables,
so their order does not matter; this revision joins them.

Revision ID: f1c2d3e4a5b6
Revises: 9e8c697d65ec, a02bc7dc5682, c5ca842fce65, a6c3e1f0b8d4, a6d1f0c3e58b, 5b2e9c1d7a40
Create Date: 2026-12-02 03:30:00
"""

revision = "f1c2d3e4a5b6"
down_revision = (
    "9e8c697d65ec",
    "a02bc7dc5682",
    "c5ca842fce65",
    "a6c3e1f0b8d4",
    "a6d1f0c3e58b",
    "5b2e9c1d7a40",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
