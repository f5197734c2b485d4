"""audit: list events reach the access log's index in batches (audit_list_index)

Revision ID: a9c3e5f7b2d4
Revises: f4a8c2e6d1b9
Create Date: 2026-12-02 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a9c3e5f7b2d4"
down_revision = "f4a8c2e6d1b9"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "audit_list_index",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("indexed_through", _ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_list_index")),
    )
    # Until now every list event wrote its rows with the view: all are indexed.
    op.execute(
        "INSERT INTO audit_list_index (id, indexed_through)"
        " SELECT 1, COALESCE(MAX(id), 0) FROM audit_events"
    )


# The patients of one event, one row each: SQLite reads the list as JSON.
_EACH = {
    "sqlite": "SELECT CAST(p.value AS INTEGER), e.id"
    " FROM audit_events e, json_each('[' || e.patient_ids || ']') p",
    "postgresql": "SELECT CAST(p AS INTEGER), e.id"
    " FROM audit_events e, unnest(string_to_array(e.patient_ids, ',')) AS p",
}


def downgrade():
    # The old code expects every list event's rows: write the ones still waiting first.
    op.execute(
        "INSERT INTO audit_event_patients (patient_id, event_id) "
        + _EACH[op.get_bind().dialect.name]
        + " WHERE e.patient_ids <> ''"
        " AND e.id > (SELECT indexed_through FROM audit_list_index)"
    )
    op.drop_table("audit_list_index")
