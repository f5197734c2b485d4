"""Inviting, accepting, changing, renewing and ending caregivers' access (the rules).

Services take the `Access` of whoever acts (the patient, or the caregiver
stepping down), write in the caller's transaction, audit, and queue the mails
and push notices that tell both sides. Mails and notices name people, never
health information.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import exists, select, update
from werkzeug.exceptions import NotFound

from portal import audit
from portal.access import CAREGIVER_SCOPES, Access, AccessDenied, Relation, Scope, active_grant
from portal.auth.models import User
from portal.auth.services import normalize_email
from portal.auth.tokens import digest, new_token
from portal.caregivers import guardians, notices
from portal.caregivers.choices import scopes_for
from portal.caregivers.models import Grant, GrantKind, Invitation
from portal.db import utcnow
from portal.extensions import db
from portal.patients import Patient

INVITATION_DAYS = 7
DEFAULT_DAYS = 365  # a grant lasts 12 months unless the patient picks another end
MAX_DAYS = 2 * 365 + 1  # at most 24 months (a leap day included)


class CaregivingError(ValueError):
    """A request the rules refuse, with words for the person who made it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AlreadyEnded(CaregivingError):
    """What staff meant to end had already ended (or was used): nothing changed."""


class InvitationInvalid(Exception):
    """The link is unknown, used, cancelled or more than 7 days old."""


@dataclass(frozen=True)
class Offer:
    """What the patient offers a caregiver: who, what they may do, until when."""

    name: str
    email: str
    relationship: str
    choices: list[str]
    include_sensitive: bool
    ends_on: date


def default_end(today: date) -> date:
    return today + timedelta(days=DEFAULT_DAYS)


def latest_end(today: date) -> date:
    return today + timedelta(days=MAX_DAYS)


def end_of(day: date) -> datetime:
    """A grant chosen to end 'on' a day lasts through that day (UTC midnight after it)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def check_end(ends_on: date, today: date) -> None:
    """An end date after today and at most 24 months away, or CaregivingError."""
    if ends_on <= today:
        raise CaregivingError("Choose an end date after today", "ends_on")
    if ends_on > latest_end(today):
        raise CaregivingError("Choose an end date at most 24 months from today", "ends_on")


def _check_scopes(choices: list[str]) -> frozenset[str]:
    if not choices:
        raise CaregivingError("Choose at least one thing they may do", "choices")
    scopes = scopes_for(choices)
    if Scope.PLAN_READ not in scopes:
        # Every page about the patient starts from the plan: without it nothing opens.
        scopes |= {Scope.PLAN_READ}
    return scopes


def _require_patient(access: Access) -> None:
    if not access.can(Scope.CAREGIVERS_MANAGE):
        raise AccessDenied(Scope.CAREGIVERS_MANAGE)


def invite(access: Access, offer: Offer, now: datetime | None = None) -> Invitation:
    """Record an invitation and queue its mail; the link's token exists only in that mail."""
    _require_patient(access)
    now = now or utcnow()
    check_end(offer.ends_on, now.date())
    scopes = _check_scopes(offer.choices)
    email = normalize_email(offer.email)
    own = db.session.scalar(select(User.email).where(User.id == access.patient_user_id))
    if own == email:
        raise CaregivingError("Enter the email address of the person who helps you", "email")
    return _invite(access, offer, email, scopes, GrantKind.CAREGIVER, end_of(offer.ends_on), now)


def _invite(
    access: Access,
    offer: Offer,
    email: str,
    scopes: frozenset[str],
    kind: GrantKind,
    ends_at: datetime,
    now: datetime,
) -> Invitation:
    # A new invitation to the same address replaces any still waiting: one live link.
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.patient_id == access.patient_id,
            Invitation.email == email,
            Invitation.used_at.is_(None),
            Invitation.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    token, token_hash = new_token()
    invitation = Invitation(
        token_hash=token_hash,
        kind=kind,
        patient_id=access.patient_id,
        name=offer.name.strip(),
        email=email,
        relationship=offer.relationship.strip(),
        scopes=" ".join(sorted(scopes)),
        include_sensitive=offer.include_sensitive,
        grant_ends_at=ends_at,
        created_by_id=access.actor_id,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    notices.invitation_mail(invitation, token, access.patient_name, access.actor_name)
    audit.record(access, "invite", "caregiver_invitation", invitation.id)
    return invitation


def cancel_invitation(access: Access, invitation_id: int, now: datetime | None = None) -> None:
    """Stop a waiting invitation's link from working."""
    _require_patient(access)
    changed = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.patient_id == access.patient_id,
            Invitation.used_at.is_(None),
            Invitation.cancelled_at.is_(None),
        )
        .values(cancelled_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise CaregivingError("That invitation was already used or cancelled.")
    audit.record(access, "cancel", "caregiver_invitation", invitation_id)


def find_invitation(token: str, now: datetime | None = None) -> Invitation:
    """The usable invitation this link carries, or InvitationInvalid."""
    if not token or len(token) > 100:
        raise InvitationInvalid
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == digest(token)))
    if invitation is None or not invitation.usable(now or utcnow()):
        raise InvitationInvalid
    return invitation


def accept(token: str, user: User, now: datetime | None = None) -> Grant:
    """Turn an invitation into a grant for `user`'s own account; the link then stops working."""
    now = now or utcnow()
    invitation = find_invitation(token, now)
    patient = db.session.get(Patient, invitation.patient_id)
    if patient.user_id == user.id:
        raise CaregivingError(
            "This invitation is for someone who helps you. Send the link to them: "
            "they accept it with their own account."
        )
    used = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise InvitationInvalid
    _end_active(patient.id, user.id, now, "replaced")
    grant = Grant(
        patient_id=patient.id,
        caregiver_id=user.id,
        kind=invitation.kind,
        relationship=invitation.relationship,
        scopes=invitation.scopes,
        include_sensitive=invitation.include_sensitive,
        starts_at=now,
        ends_at=invitation.grant_ends_at,
        created_by_id=invitation.created_by_id,
        created_at=now,
    )
    db.session.add(grant)
    db.session.flush()
    db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(grant_id=grant.id)
        .execution_options(synchronize_session=False)
    )
    _audit_as_caregiver(user, patient.id, "accept", grant.id)
    notices.joined(grant, patient, user)
    return grant


def _end_active(patient_id: int, caregiver_id: int, now: datetime, reason: str) -> None:
    db.session.execute(
        update(Grant)
        .where(active_grant(patient_id, caregiver_id, now))
        .values(revoked_at=now, ended_reason=reason)
        .execution_options(synchronize_session=False)
    )


def _audit_as_caregiver(user: User, patient_id: int, action: str, grant_id: int) -> None:
    audit.record_rows(
        [
            {
                "actor_id": user.id,
                "relation": Relation.CAREGIVER.value,
                "patient_id": patient_id,
                "action": action,
                "object_type": "caregiver_grant",
                "object_id": grant_id,
            }
        ]
    )


def _patient_grant(access: Access, grant_id: int, now: datetime) -> Grant:
    """One of this patient's grants that is still running (else CaregivingError)."""
    _require_patient(access)
    grant = db.session.scalar(
        select(Grant).where(Grant.id == grant_id, Grant.patient_id == access.patient_id)
    )
    if grant is None or not grant.active(now):
        raise CaregivingError("That person's access has already ended.")
    return grant


def change(
    access: Access,
    grant_id: int,
    choices: list[str],
    include_sensitive: bool,
    ends_on: date,
    now: datetime | None = None,
) -> Grant:
    """The patient changes what a caregiver may do and until when (renewing is a later end)."""
    now = now or utcnow()
    grant = _patient_grant(access, grant_id, now)
    check_end(ends_on, now.date())
    if grant.kind is GrantKind.GUARDIAN:
        raise CaregivingError("A guardian's access is changed by your clinic.")
    grant.scopes = " ".join(sorted(_check_scopes(choices)))
    grant.include_sensitive = include_sensitive
    if end_of(ends_on) != grant.ends_at:
        grant.ends_at = end_of(ends_on)
        grant.reminded_at = None  # a renewed grant is reminded of again before its new end
    db.session.flush()
    audit.record(access, "change", "caregiver_grant", grant.id)
    notices.changed(grant, access.patient_name)
    return grant


def revoke(access: Access, grant_id: int, now: datetime | None = None) -> Grant:
    """The patient ends a caregiver's access; their next request finds nothing."""
    now = now or utcnow()
    grant = _patient_grant(access, grant_id, now)
    if grant.kind is GrantKind.GUARDIAN:
        raise CaregivingError("A guardian's access is changed by your clinic.")
    grant.revoked_at, grant.ended_reason = now, "revoked"
    db.session.flush()
    audit.record(access, "revoke", "caregiver_grant", grant.id)
    notices.revoked(grant, access.patient_name)
    return grant


def step_down(access: Access, now: datetime | None = None) -> Grant:
    """The caregiver ends their own access to this patient."""
    now = now or utcnow()
    if not access.is_caregiver or access.grant_id is None:
        raise AccessDenied("caregiver")
    grant = db.session.get(Grant, access.grant_id)
    grant.revoked_at, grant.ended_reason = now, "stepped_down"
    db.session.flush()
    audit.record(access, "step_down", "caregiver_grant", grant.id)
    notices.stepped_down(grant, access.actor_name)
    return grant


def invite_guardian(
    access: Access,
    name: str,
    email: str,
    relationship: str,
    birth_date: date | None,
    now: datetime | None = None,
) -> Invitation:
    """Clinic staff invite a minor's guardian; the grant ends on the 18th birthday."""
    if not access.can(Scope.TEAM_MANAGE):
        raise AccessDenied(Scope.TEAM_MANAGE)
    now = now or utcnow()
    if not guardians.is_minor(birth_date, now.date()):
        raise CaregivingError("Only a patient under 18 with a known date of birth has a guardian.")
    offer = Offer(name, email, relationship, [], True, now.date())
    adult = datetime.combine(guardians.adult_on(birth_date), time(0), tzinfo=UTC)
    scopes = CAREGIVER_SCOPES  # what a guardian sees of sensitive items follows the age rules
    return _invite(access, offer, normalize_email(email), scopes, GrantKind.GUARDIAN, adult, now)


def end_guardian(
    access: Access, grant_id: int, cause: str, note: str | None, now: datetime | None = None
) -> Grant:
    """Clinic staff end a guardian's access at once, with the reason kept for the record.

    The cause and note stay on the grant for the care team: the guardian's mail
    and notice say only that their access ended.
    """
    access.require(Scope.TEAM_MANAGE)
    if cause not in guardians.END_CAUSE_LABELS:
        raise CaregivingError("Choose why their access ends", "cause")
    now = now or utcnow()
    grant = db.session.scalar(
        select(Grant).where(
            Grant.id == grant_id,
            Grant.patient_id == access.patient_id,
            Grant.kind == GrantKind.GUARDIAN,
        )
    )
    if grant is None:
        raise NotFound()
    # Conditional on the grant still running: of two staff ending it at once, one does.
    ended = db.session.execute(
        update(Grant)
        .where(Grant.id == grant.id, active_grant(access.patient_id, grant.caregiver_id, now))
        .values(
            revoked_at=now,
            ended_reason="ended_by_clinic",
            end_cause=cause,
            end_note=(note or "").strip()[:500] or None,
        )
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        raise AlreadyEnded("Their access as guardian had already ended.")
    db.session.expire(grant)
    audit.record(access, "end_guardian", "caregiver_grant", grant.id)
    notices.guardian_ended(grant, access.patient_name)
    return grant


def cancel_guardian_invitation(
    access: Access, invitation_id: int, now: datetime | None = None
) -> None:
    """Clinic staff stop a waiting guardian invitation's link from working."""
    access.require(Scope.TEAM_MANAGE)
    now = now or utcnow()
    mine = (
        Invitation.id == invitation_id,
        Invitation.patient_id == access.patient_id,
        Invitation.kind == GrantKind.GUARDIAN,
    )
    changed = db.session.execute(
        update(Invitation)
        .where(
            *mine,
            Invitation.used_at.is_(None),
            Invitation.cancelled_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        if not db.session.scalar(select(exists().where(*mine))):
            raise NotFound()
        raise AlreadyEnded("That invitation was already accepted, cancelled or out of date.")
    audit.record(access, "cancel", "guardian_invitation", invitation_id)
