"""Reading grants: the patient's People page, the team's view, and whom a user helps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select

from portal import audit
from portal.access import Access, Scope, active_grant
from portal.auth.models import User
from portal.caregivers.choices import labels_for
from portal.caregivers.guardians import END_CAUSE_LABELS
from portal.caregivers.models import Grant, GrantKind, Invitation
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal, GoalStatus, ProgressEntry
from portal.patients import Patient


@dataclass(frozen=True)
class Helper:
    """A caregiver (or guardian) of a patient, as the People and team pages show them."""

    grant_id: int
    name: str
    email: str
    relationship: str
    kind: GrantKind
    may: list[str]
    scopes: frozenset[str]
    include_sensitive: bool
    ends_at: datetime

    @property
    def is_guardian(self) -> bool:
        return self.kind is GrantKind.GUARDIAN


def helpers_of(patient_id: int, now: datetime | None = None) -> list[Helper]:
    """Everyone whose access to `patient_id` is running now, in one query."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Grant, User.name, User.email)
        .join(User, User.id == Grant.caregiver_id)
        .where(active_grant(patient_id, Grant.caregiver_id, now))
        .order_by(User.name, Grant.id)
    )
    return [
        Helper(
            grant.id,
            name,
            email,
            grant.relationship,
            grant.kind,
            labels_for(grant.scope_set, grant.include_sensitive),
            grant.scope_set,
            grant.include_sensitive,
            grant.ends_at,
        )
        for grant, name, email in rows
    ]


def waiting_invitations(
    patient_id: int, now: datetime | None = None, kind: GrantKind | None = None
) -> list[Invitation]:
    """Invitations whose link still works (of one kind, when given)."""
    now = now or utcnow()
    query = select(Invitation).where(
        Invitation.patient_id == patient_id,
        Invitation.used_at.is_(None),
        Invitation.cancelled_at.is_(None),
        Invitation.expires_at > now,
    )
    if kind is not None:
        query = query.where(Invitation.kind == kind)
    return list(db.session.scalars(query.order_by(Invitation.created_at.desc())))


@dataclass(frozen=True)
class GuardianLink:
    """A guardian's grant as the clinic's "end guardian access" page shows it."""

    grant_id: int
    name: str
    relationship: str
    running: bool


def guardian_link(
    patient_id: int, grant_id: int, now: datetime | None = None
) -> GuardianLink | None:
    """One guardian grant of `patient_id` with the guardian's name (None: no such grant)."""
    row = db.session.execute(
        select(Grant, User.name)
        .join(User, User.id == Grant.caregiver_id)
        .where(
            Grant.id == grant_id,
            Grant.patient_id == patient_id,
            Grant.kind == GrantKind.GUARDIAN,
        )
    ).first()
    if row is None:
        return None
    grant, name = row
    return GuardianLink(grant.id, name, grant.relationship, grant.active(now or utcnow()))


@dataclass(frozen=True)
class Helped:
    """Someone the user acts for: the patient's id and name."""

    patient_id: int
    name: str


def helped_by(user_id: int, now: datetime | None = None) -> list[Helped]:
    """The patients `user_id` holds a running grant for (the switcher), in one query.

    A guardian's grant also ends at the patient's 18th birthday (see
    `access.resolve`); its `ends_at` is set to that day when it is made.
    """
    now = now or utcnow()
    rows = db.session.execute(
        select(Patient.id, Patient.given_name, Patient.family_name)
        .join(Grant, active_grant(Patient.id, user_id, now))
        .order_by(Patient.given_name, Patient.family_name, Patient.id)
        .distinct()
    )
    return [Helped(pid, f"{given} {family}") for pid, given, family in rows]


@dataclass(frozen=True)
class EndedGuardian:
    """A guardian's access the clinic ended: when, why, and the note kept for the record."""

    name: str
    relationship: str
    ended_at: datetime
    cause: str
    note: str | None


def ended_by_clinic(patient_id: int, limit: int = 20) -> list[EndedGuardian]:
    """Guardian access the clinic ended for this patient, newest first (the care team's record)."""
    rows = db.session.execute(
        select(User.name, Grant.relationship, Grant.revoked_at, Grant.end_cause, Grant.end_note)
        .join(User, User.id == Grant.caregiver_id)
        .where(Grant.patient_id == patient_id, Grant.ended_reason == "ended_by_clinic")
        .order_by(Grant.revoked_at.desc(), Grant.id.desc())
        .limit(limit)
    )
    return [
        EndedGuardian(
            name, relationship, at, END_CAUSE_LABELS.get(cause or "", "Not recorded"), note
        )
        for name, relationship, at, cause, note in rows
    ]


@dataclass(frozen=True)
class TodayGoal:
    """An active goal on the switcher: its title and whether anything is logged today."""

    goal_id: int
    title: str
    logged_today: bool


def _today(access: Access, now: datetime) -> date:
    """Today in the patient's time zone (their days are the days entries are about)."""
    try:
        zone = ZoneInfo(access.patient_timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def todays_goals(accesses: Iterable[Access]) -> dict[int, list[TodayGoal]]:
    """Each patient's active goals that its access may read, logged today or not.

    Two queries for any number of patients; each access's own `item_filter`
    decides which goals it sees (a sensitive goal leaves no trace). Audited as
    each patient's goals read, like the goals list.
    """
    readers = [a for a in accesses if a.can(Scope.GOALS_READ)]
    found: dict[int, list[TodayGoal]] = {a.patient_id: [] for a in readers}
    if not readers:
        return found
    now = utcnow()
    today = {a.patient_id: _today(a, now) for a in readers}
    goals = db.session.execute(
        select(Goal.id, Goal.patient_id, Goal.title)
        .where(
            or_(*(and_(*a.item_filter(Goal)) for a in readers)),
            Goal.status == GoalStatus.ACTIVE,
        )
        .order_by(Goal.id)
    ).all()
    logged = set()
    if goals:
        logged = set(
            db.session.execute(
                select(ProgressEntry.goal_id, ProgressEntry.entry_date)
                .where(
                    ProgressEntry.goal_id.in_([g.id for g in goals]),
                    ProgressEntry.entry_date.in_(sorted(set(today.values()))),
                    ProgressEntry.deleted_at.is_(None),
                )
                .distinct()
            ).all()
        )
    for goal_id, patient_id, title in goals:
        done = (goal_id, today[patient_id]) in logged
        found[patient_id].append(TodayGoal(goal_id, title, done))
    for access in readers:
        audit.record(access, "read", "goals", access.patient_id)
    return found


def grant_of(patient_id: int, grant_id: int) -> Grant | None:
    return db.session.scalar(
        select(Grant).where(Grant.id == grant_id, Grant.patient_id == patient_id)
    )


def notified_caregivers(
    patient_id: int, *, sensitive: bool = False, now: datetime | None = None
) -> list[int]:
    """Caregivers whose running grant includes notifications about this patient."""
    rows = db.session.execute(
        select(Grant.caregiver_id, Grant.scopes, Grant.include_sensitive, Grant.kind).where(
            active_grant(patient_id, Grant.caregiver_id, now or utcnow())
        )
    )
    return sorted(
        {
            uid
            for uid, scopes, include_sensitive, kind in rows
            if "notify" in scopes.split()
            and (not sensitive or (include_sensitive and kind == GrantKind.CAREGIVER))
        }
    )
