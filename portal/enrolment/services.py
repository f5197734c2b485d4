"""Enrolling a patient: the record, the account, the enrolling clinician on the team, the mail.

An administrator or any active clinician may enrol (a new patient has no care
team yet to ask). All of it is one transaction: validated first, so a refused
enrolment writes nothing, and a clash found while writing rolls it all back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from portal import audit
from portal.access import Access, Scope, may_act_as_care_team, resolve
from portal.auth.models import Discipline, User, UserKind
from portal.careplan.models import CareTeamMember
from portal.careplan.services import record_revision
from portal.enrolment import activation
from portal.extensions import db
from portal.patients import Patient

OLDEST_YEAR = 1900


@dataclass(frozen=True)
class NewPatient:
    given_name: str
    family_name: str
    birth_date: date
    email: str


class EnrolmentRefused(ValueError):
    """What is wrong, per form field: {"email": "..."}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def may_enrol(user: User) -> bool:
    """Administrators and active clinicians enrol patients; nobody else."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.kind is UserKind.ADMIN or may_act_as_care_team(user)


def birth_date_problem(born: date, today: date) -> str | None:
    """Why a date of birth cannot be right, or None."""
    if born > today:
        return "Date of birth must be today or in the past"
    if born.year < OLDEST_YEAR:
        return f"Date of birth must be after {OLDEST_YEAR}. Check the year"
    return None


def clinicians() -> list[tuple[int, str]]:
    """(id, "name, job title") of every active clinician, for an administrator to choose a lead."""
    rows = db.session.execute(
        select(User.id, User.name, User.job_title)
        .where(User.kind == UserKind.CLINICIAN, User.is_active_account.is_(True))
        .order_by(User.name, User.id)
    )
    return [(i, f"{name}, {title}" if title else name) for i, name, title in rows]


def enrol_patient(
    actor: User, data: NewPatient, today: date, lead_id: int | None = None
) -> Patient:
    """Create the patient and their waiting account, and mail the activation link.

    A clinician leads the new team; an administrator names the clinician who does.
    """
    if not may_enrol(actor):
        raise PermissionError("only administrators and clinicians enrol patients")
    problem = birth_date_problem(data.birth_date, today)
    if problem:
        raise EnrolmentRefused({"birth_day": problem})
    lead = actor if actor.kind is UserKind.CLINICIAN else db.session.get(User, lead_id or 0)
    if lead is None or not may_act_as_care_team(lead):
        raise EnrolmentRefused({"lead_id": "Choose the clinician who leads the care team"})
    try:
        user = activation.new_account(
            data.email,
            f"{data.given_name} {data.family_name}",
            UserKind.PATIENT,
            timezone=actor.timezone,  # the practice's, until the patient says otherwise
        )
    except activation.EmailTaken as taken:
        raise EnrolmentRefused({"email": TAKEN}) from taken
    patient = Patient(
        given_name=data.given_name,
        family_name=data.family_name,
        birth_date=data.birth_date,
        user_id=user.id,
    )
    db.session.add(patient)
    db.session.flush()
    _join_team(lead, patient)
    relation = "admin" if actor.kind is UserKind.ADMIN else "care_team"
    audit.record_rows(
        [
            {
                "actor_id": actor.id,
                "relation": relation,
                "patient_id": patient.id,
                "action": "enrol",
                "object_type": "patient",
                "object_id": patient.id,
            }
        ]
    )
    activation.send_link(user)
    return patient


TAKEN = "An account with this email address already exists. Check it, or use another one"


def _join_team(clinician: User, patient: Patient) -> None:
    """The lead joins the new team, so the patient is on their panel from the start."""
    discipline = clinician.discipline or Discipline.PRIMARY_CARE
    role = clinician.job_title or Discipline(discipline).label
    member = CareTeamMember(
        patient_id=patient.id,
        user_id=clinician.id,
        role=role,
        discipline=discipline,
        is_lead=True,
    )
    db.session.add(member)
    db.session.flush()
    access = resolve(clinician, patient.id)
    record_revision(
        access, "team", member.id, "added", f"{clinician.name} joined the care team as {role}"
    )


def patient_account(access: Access) -> User | None:
    """The account the patient signs in with (None: a record without one); audited."""
    access.require(Scope.TEAM_MANAGE)
    user = db.session.get(User, access.patient_user_id) if access.patient_user_id else None
    audit.record(access, "read", "account_status", user.id if user else None)
    return user


def resend_patient_link(access: Access) -> User:
    """The care team mails the patient a new activation link. Raises AlreadyActive."""
    access.require(Scope.TEAM_MANAGE)
    user = db.session.get(User, access.patient_user_id) if access.patient_user_id else None
    if user is None or not user.is_active_account:
        raise activation.AlreadyActive("no account waiting")
    activation.send_link(user)  # raises AlreadyActive once the patient chose a password
    audit.record(access, "resend_activation", "user", user.id)
    return user
