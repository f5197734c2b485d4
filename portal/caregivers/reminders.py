"""The patient is reminded 14 days before a grant they gave ends (`flask caregivers remind`).

Run it daily (cron, a systemd timer, or the scheduler of the platform). Each
grant is reminded of once per end date: a conditional UPDATE of
`reminded_at` decides, so two runs at once cannot both send; renewing a grant
clears it, so the new end date is reminded of too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from portal.access import active_grant
from portal.auth.models import User
from portal.caregivers import notices
from portal.caregivers.models import Grant, GrantKind
from portal.db import utcnow
from portal.extensions import db
from portal.patients import Patient

REMIND_BEFORE = timedelta(days=14)


def remind_ending(now: datetime | None = None) -> int:
    """Queue the "ends soon" mail and notice for each grant ending within 14 days; how many."""
    now = now or utcnow()
    caregiver = aliased(User)
    rows = db.session.execute(
        select(Grant, User, caregiver.name)
        .join(Patient, Patient.id == Grant.patient_id)
        .join(User, User.id == Patient.user_id)
        .join(caregiver, caregiver.id == Grant.caregiver_id)
        .where(
            active_grant(Grant.patient_id, Grant.caregiver_id, now),
            Grant.kind == GrantKind.CAREGIVER,  # a guardian's end is the 18th birthday
            Grant.reminded_at.is_(None),
            Grant.ends_at <= now + REMIND_BEFORE,
        )
    ).all()
    sent = 0
    for grant, patient_user, caregiver_name in rows:
        claimed = db.session.execute(
            update(Grant)
            .where(Grant.id == grant.id, Grant.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            notices.ending_soon(grant, patient_user, caregiver_name)
            sent += 1
    return sent


@click.group(help="Family caregivers' access.")
def caregivers() -> None:
    pass


@caregivers.command("remind")
@with_appcontext
def remind() -> None:
    """Remind patients of grants that end within 14 days (run daily)."""
    sent = remind_ending()
    db.session.commit()
    click.echo(f"Reminded patients of {sent} grants ending within 14 days.")
