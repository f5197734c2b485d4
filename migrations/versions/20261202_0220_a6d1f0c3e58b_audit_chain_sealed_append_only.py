"""audit trail sealed: an HMAC chain, the session and address, append-only

Each audit row gains its session, client address, the path of a refused
attempt, and a mac chaining it to the row before (portal/audit/chain.py).
Existing rows are sealed here, in id order, with AUDIT_KEY. The foreign keys
from the trail to users and patients go: ON DELETE SET NULL / CASCADE would
rewrite or remove sealed rows. Triggers refuse UPDATE of the trail.

Revision ID: a6d1f0c3e58b
Revises: 0e8ded07b136
Create Date: 2026-12-02 02:20:00

"""
from alembic import op
import sqlalchemy as sa

from portal.audit import append_only
from portal.audit.chain import SEALED, seal
from portal.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'a6d1f0c3e58b'
down_revision = '0e8ded07b136'
branch_labels = None
depends_on = None

# The audit tables at this revision (append_only.TABLES is today's).
_AUDIT_TABLES = ("audit_events", "audit_event_patients")

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _seal_existing(conn) -> None:
    """Seal the rows written before the chain, oldest first (they keep their ids)."""
    columns = [sa.column(c, UTCDateTime() if c == 'at' else None) for c in (*SEALED, 'mac')]
    events = sa.table('audit_events', *columns)
    previous = ''
    rows = conn.execute(sa.select(*(events.c[c] for c in SEALED)).order_by(events.c.id)).all()
    for row in rows:
        previous = seal(row._asdict(), previous)
        conn.execute(events.update().where(events.c.id == row.id).values(mac=previous))


def upgrade():
    with op.batch_alter_table('audit_event_patients', schema=None) as batch_op:
        batch_op.drop_constraint(
            'fk_audit_event_patients_patient_id_patients', type_='foreignkey'
        )
        batch_op.drop_constraint(
            'fk_audit_event_patients_event_id_audit_events', type_='foreignkey'
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_event_patients_event_id_audit_events'),
            'audit_events', ['event_id'], ['id'],
        )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_events_actor_id_users', type_='foreignkey')
        batch_op.drop_constraint('fk_audit_events_patient_id_patients', type_='foreignkey')
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('client_addr', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('path', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    _seal_existing(op.get_bind())
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('mac', existing_type=sa.String(length=64), nullable=False)
    append_only.create(op.get_bind(), _AUDIT_TABLES)


def downgrade():
    append_only.drop(op.get_bind(), _AUDIT_TABLES)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('mac')
        batch_op.drop_column('path')
        batch_op.drop_column('client_addr')
        batch_op.drop_column('session_id')
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_events_patient_id_patients'), 'patients',
            ['patient_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_events_actor_id_users'), 'users',
            ['actor_id'], ['id'], ondelete='SET NULL',
        )
    with op.batch_alter_table('audit_event_patients', schema=None) as batch_op:
        batch_op.drop_constraint(
            'fk_audit_event_patients_event_id_audit_events', type_='foreignkey'
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_event_patients_event_id_audit_events'),
            'audit_events', ['event_id'], ['id'], ondelete='CASCADE',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_event_patients_patient_id_patients'), 'patients',
            ['patient_id'], ['id'], ondelete='CASCADE',
        )
