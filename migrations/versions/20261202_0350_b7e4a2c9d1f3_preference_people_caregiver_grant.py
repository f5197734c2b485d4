"""preference people point at caregiver grants

preference_people.caregiver_grant_id becomes a foreign key to
caregiver_grants (ON DELETE SET NULL: the words the patient chose stay when a
grant row goes), indexed for that delete. SQLite can only add a foreign key by
recreating the table, which drops its data-version triggers, so they are made
again for it (portal/versions.py; tests/test_versions.py compares them).

Revision ID: b7e4a2c9d1f3
Revises: f1c2d3e4a5b6
Create Date: 2026-12-02 03:50:00.000000

"""
from alembic import op

from portal.versions import create_patient_triggers

# revision identifiers, used by Alembic.
revision = 'b7e4a2c9d1f3'
down_revision = 'f1c2d3e4a5b6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('preference_people', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_preference_people_caregiver_grant_id'),
            ['caregiver_grant_id'],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_preference_people_caregiver_grant_id_caregiver_grants'),
            'caregiver_grants',
            ['caregiver_grant_id'],
            ['id'],
            ondelete='SET NULL',
        )
    if op.get_bind().dialect.name == 'sqlite':
        create_patient_triggers(op.get_bind(), ['preference_people'])


def downgrade():
    with op.batch_alter_table('preference_people', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_preference_people_caregiver_grant_id_caregiver_grants'),
            type_='foreignkey',
        )
        batch_op.drop_index(batch_op.f('ix_preference_people_caregiver_grant_id'))
    if op.get_bind().dialect.name == 'sqlite':
        create_patient_triggers(op.get_bind(), ['preference_people'])
