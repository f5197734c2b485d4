"""audit: the access log's index is a span of list events per patient and batch

`audit_event_patients` held a row per (patient, list event): fifty rows for
every inbox view, written by the deliverer on the same cores as the pages. With
the deliverer indexing and without, PostgreSQL's inbox answered 0.129 and 0.142
of the bare app (four interleaved pairs). `audit_list_spans` holds one row per
patient and batch: from the first list event of the batch that showed the
patient to the last. A reader keeps the events in a span whose sealed
`patient_ids` name the patient (portal/audit/listed.py).

Each existing row becomes a span of one event, so every access log reads the
same after the upgrade, before any batch runs. The downgrade writes a row for
every event in a span that names the patient.

Revision ID: e7a9c1d3f5b8
Revises: d1f3a5c7e9b2
Create Date: 2026-12-03 18:15:00

"""

import sqlalchemy as sa
from alembic import op

from portal.audit import append_only

# revision identifiers, used by Alembic.
revision = "e7a9c1d3f5b8"
down_revision = "d1f3a5c7e9b2"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The audit tables before and after this revision (append_only.TABLES is today's).
_BEFORE = ("audit_events", "audit_event_patients")
_AFTER = ("audit_events", "audit_list_spans")


def upgrade():
    bind = op.get_bind()
    append_only.drop(bind, _BEFORE)
    op.create_table(
        "audit_list_spans",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("first_event", _ID, nullable=False),
        sa.Column("last_event", _ID, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "first_event", name=op.f("pk_audit_list_spans")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_audit_list_spans_first_event", "audit_list_spans", ["first_event"])
    bind.execute(
        sa.text(
            "INSERT INTO audit_list_spans (patient_id, first_event, last_event)"
            " SELECT patient_id, event_id, event_id FROM audit_event_patients"
        )
    )
    op.drop_table("audit_event_patients")
    append_only.create(bind, _AFTER)


def downgrade():
    bind = op.get_bind()
    append_only.drop(bind, _AFTER)
    op.create_table(
        "audit_event_patients",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "event_id", name=op.f("pk_audit_event_patients")),
        sqlite_with_rowid=False,
    )
    bind.execute(
        sa.text(
            "INSERT INTO audit_event_patients (patient_id, event_id)"
            " SELECT DISTINCT s.patient_id, e.id FROM audit_list_spans s"
            " JOIN audit_events e ON e.id BETWEEN s.first_event AND s.last_event"
            " WHERE ',' || e.patient_ids || ',' LIKE '%,' || CAST(s.patient_id AS TEXT) || ',%'"
        )
    )
    op.drop_index("ix_audit_list_spans_first_event", table_name="audit_list_spans")
    op.drop_table("audit_list_spans")
    append_only.create(bind, _BEFORE)
