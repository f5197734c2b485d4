"""The daily goal reminder: each patient who chose a time is reminded once a local day.

`enqueue_due_reminders` runs from `flask notify deliver` (every pass of
`--loop`, at most once a minute): it finds patients whose chosen local time has
come within the last two hours, remembers the day on their preferences so the
next runs skip them cheaply, and enqueues one reminder for those with an
active goal. The day in the dedupe key keeps a racing run from adding a second.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.auth.models import User, UserKind
from portal.db import utcnow
from portal.decisions.reminders import enqueue_decide_by_reminders
from portal.extensions import db
from portal.goals.models import Goal, GoalStatus
from portal.notifications.models import NotificationPreference
from portal.notifications.outbox import enqueue, portal_path
from portal.notifications.preferences import zone_of
from portal.patients import Patient

REMINDER_WINDOW = timedelta(hours=2)  # a reminder missed by more than this waits for tomorrow


def _reminder_occurrence(reminder: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest local reminder time at or before `now`, in UTC."""
    local_now = now.astimezone(zone)
    occurrence = datetime.combine(local_now.date(), reminder, tzinfo=zone)
    if occurrence > local_now:
        occurrence = datetime.combine(local_now.date() - timedelta(days=1), reminder, tzinfo=zone)
    return occurrence


def enqueue_due_reminders(now: datetime | None = None) -> int:
    """Enqueue today's goal reminder for each patient whose chosen local time has come.

    Once per patient per local day: the dedupe key names the day, and the
    preference remembers it so the next runs skip the patient cheaply. Only
    patients with an active goal are reminded. Decide-by reminders ride along
    (portal/decisions/reminders.py). Returns how many were enqueued.
    """
    now = now or utcnow()
    count = enqueue_decide_by_reminders(now)  # decisions whose date to decide by is near
    rows = db.session.execute(
        select(NotificationPreference, User.timezone, Patient.id)
        .join(User, User.id == NotificationPreference.user_id)
        .join(Patient, Patient.user_id == User.id)
        .where(
            NotificationPreference.reminder_time.is_not(None),
            User.is_active_account.is_(True),
            User.kind == UserKind.PATIENT,
        )
    ).all()
    due: list[tuple[NotificationPreference, int, date]] = []
    for pref, tz, patient_id in rows:
        if pref.is_muted("reminders"):
            continue
        occurrence = _reminder_occurrence(pref.reminder_time, zone_of(tz), now)
        day = occurrence.date()
        if pref.last_reminder_on == day or now - occurrence > REMINDER_WINDOW:
            continue
        due.append((pref, patient_id, day))
    if not due:
        return count
    with_goals = set(
        db.session.scalars(
            select(Goal.patient_id)
            .where(
                Goal.patient_id.in_([pid for _, pid, _ in due]),
                Goal.status == GoalStatus.ACTIVE,
            )
            .distinct()
        )
    )
    for pref, patient_id, day in due:
        pref.last_reminder_on = day
        if patient_id not in with_goals:
            continue
        count += len(
            enqueue(
                "goal_reminder",
                [pref.user_id],
                url=portal_path("careplan.home", patient_id=patient_id),
                patient_id=patient_id,
                dedupe_key=f"goal_reminder:{{user_id}}:{day.isoformat()}",
                now=now,
            )
        )
    db.session.flush()
    return count
