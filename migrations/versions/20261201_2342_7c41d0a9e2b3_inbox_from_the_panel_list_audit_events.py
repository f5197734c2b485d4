"""inbox from the panel; one audit event per list view

The inbox reads each panel patient's waiting goals through a partial index
(patient_id, awaiting_reply_since) instead of the clinic-wide index on
awaiting_reply_since. A list view is one audit event naming its patients
(audit_events.patient_ids) with a narrow index table for each patient's access
log, and audit events gain an index by actor for the access log and reports.

Revision ID: 7c41d0a9e2b3
Revises: c4f1e2a9b7d3
Create Date: 2026-12-01 23:42:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c41d0a9e2b3'
down_revision = 'c4f1e2a9b7d3'
branch_labels = None
depends_on = None

_WAITING = sa.text('awaiting_reply_since IS NOT NULL')


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_ids', sa.Text(), nullable=True))
        batch_op.create_index('ix_audit_events_actor_at', ['actor_id', 'at'], unique=False)
    op.create_table(
        'audit_event_patients',
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column(
            'event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ['event_id'], ['audit_events.id'],
            name=op.f('fk_audit_event_patients_event_id_audit_events'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['patient_id'], ['patients.id'],
            name=op.f('fk_audit_event_patients_patient_id_patients'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('patient_id', 'event_id', name=op.f('pk_audit_event_patients')),
        sqlite_with_rowid=False,
    )
    op.create_index(
        'ix_goals_patient_waiting', 'goals', ['patient_id', 'awaiting_reply_since'],
        unique=False, sqlite_where=_WAITING, postgresql_where=_WAITING,
    )
    op.drop_index('ix_goals_awaiting_reply_since', table_name='goals')


def downgrade():
    op.create_index(
        'ix_goals_awaiting_reply_since', 'goals', ['awaiting_reply_since'], unique=False
    )
    op.drop_index('ix_goals_patient_waiting', table_name='goals')
    op.drop_table('audit_event_patients')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_actor_at')
        batch_op.drop_column('patient_ids')
