"""The decide-by reminder: when an open decision's date is near, the patient and team hear once.

Run with the daily goal reminders on every pass of `flask notify deliver`
(portal/notifications/reminders.py), and on its own by `flask decisions remind`.
`Decision.reminded_for` remembers the date a reminder was queued for, so later
passes skip the decision cheaply; a changed date would be reminded again. The
dedupe key (decision, user, date) keeps a racing pass from adding a second.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from portal.access import care_team_of
from portal.careplan.models import CareTeamMember
from portal.db import utcnow
from portal.decisions.models import Decision, DecisionStatus
from portal.extensions import db
from portal.notifications.outbox import enqueue, portal_path
from portal.patients import Patient

DUE_SOON = timedelta(days=2)  # "near": the date to decide by is at most this far off


def enqueue_decide_by_reminders(now: datetime | None = None) -> int:
    """Queue one reminder per open decision whose date is near, to the patient and team.

    Returns how many notices were queued. Three statements plus the outbox's,
    whatever the number of decisions that are not due.
    """
    now = now or utcnow()
    horizon = (now + DUE_SOON).date()
    due = db.session.execute(
        select(Decision, Patient.user_id)
        .join(Patient, Patient.id == Decision.patient_id)
        .where(
            Decision.status == DecisionStatus.OPEN,
            Decision.decide_by.is_not(None),
            Decision.decide_by <= horizon,
            Decision.decide_by >= now.date() - timedelta(days=1),
            (Decision.reminded_for.is_(None)) | (Decision.reminded_for != Decision.decide_by),
        )
    ).all()
    if not due:
        return 0
    teams: dict[int, list[int]] = {}
    for patient_id, user_id in db.session.execute(
        select(CareTeamMember.patient_id, CareTeamMember.user_id).where(
            care_team_of(CareTeamMember.patient_id),  # the access rule, for several patients
            CareTeamMember.patient_id.in_({d.patient_id for d, _ in due}),
        )
    ):
        teams.setdefault(patient_id, []).append(user_id)
    count = 0
    for decision, patient_user_id in due:
        decision.reminded_for = decision.decide_by
        recipients = ([patient_user_id] if patient_user_id else []) + teams.get(
            decision.patient_id, []
        )
        count += len(
            enqueue(
                "decision_due",
                recipients,
                url=portal_path(
                    "decisions.detail", patient_id=decision.patient_id, decision_id=decision.id
                ),
                patient_id=decision.patient_id,
                dedupe_key=f"decision_due:{decision.id}:{{user_id}}:{decision.decide_by}",
                now=now,
            )
        )
    db.session.flush()
    return count
