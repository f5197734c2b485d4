"""audit: the access log's index keeps no foreign key to its events

On PostgreSQL the key's check locked the event's row once for each patient
it listed, two-thirds of what writing `audit_event_patients` cost (10.5 us a
row against 2.9 without it and without `ON CONFLICT`), paid on the same cores
as every page. The verifier (`flask audit verify`) checks that each row names
an event listing its patient, and now also rows naming no event at all.

Revision ID: d1f3a5c7e9b2
Revises: c8e2f4a6b1d3
Create Date: 2026-12-03 16:00:00

"""

from alembic import op

from portal.audit import append_only

# revision identifiers, used by Alembic.
revision = "d1f3a5c7e9b2"
down_revision = "c8e2f4a6b1d3"
branch_labels = None
depends_on = None

# The audit tables at this revision (append_only.TABLES is today's).
_AUDIT_TABLES = ("audit_events", "audit_event_patients")

_KEY = "fk_audit_event_patients_event_id_audit_events"


def upgrade():
    # SQLite rebuilds the table (a batch copy): its UPDATE trigger goes with it.
    append_only.drop(op.get_bind(), _AUDIT_TABLES)
    with op.batch_alter_table("audit_event_patients", schema=None) as batch_op:
        batch_op.drop_constraint(_KEY, type_="foreignkey")
    append_only.create(op.get_bind(), _AUDIT_TABLES)


def downgrade():
    append_only.drop(op.get_bind(), _AUDIT_TABLES)
    with op.batch_alter_table("audit_event_patients", schema=None) as batch_op:
        batch_op.create_foreign_key(_KEY, "audit_events", ["event_id"], ["id"])
    append_only.create(op.get_bind(), _AUDIT_TABLES)
