"""Reading grants: the patient's People page, the team's view, and whom a user helps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.access import active_grant
from portal.auth.models import User
from portal.caregivers.choices import labels_for
from portal.caregivers.models import Grant, GrantKind, Invitation
from portal.db import utcnow
from portal.extensions import db
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


def waiting_invitations(patient_id: int, now: datetime | None = None) -> list[Invitation]:
    """Invitations whose link still works."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.patient_id == patient_id,
                Invitation.used_at.is_(None),
                Invitation.cancelled_at.is_(None),
                Invitation.expires_at > now,
            )
            .order_by(Invitation.created_at.desc())
        )
    )


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
