"""Telling both sides: the invitation mail, and a mail plus a push notice for each change.

Every word here names people and the portal, never a plan item, a goal, a
value or a care team: a mail or a lock-screen notice may be read by anyone.
"""

from __future__ import annotations

from portal import notifications
from portal.auth.models import User
from portal.caregivers.models import Grant, Invitation
from portal.extensions import db
from portal.mail import outbox
from portal.notifications.outbox import portal_path
from portal.patients import Patient


def invitation_mail(invitation: Invitation, token: str, patient_name: str, by: str) -> None:
    """The single-use link, to the address the patient gave."""
    outbox.queue(
        "caregiver_invitation",
        invitation.email,
        f"{patient_name} invited you to CareCircle",
        "caregiver_invitation",
        name=invitation.name,
        patient_name=patient_name,
        by=by,
        link=outbox.link("caregivers.invitation_link", token=token),
        days=(invitation.expires_at - invitation.created_at).days,
        guardian=invitation.kind == "guardian",
    )


def _tell(user: User, kind: str, subject: str, message: str, endpoint: str, **values) -> None:
    """One mail and (where they subscribed) one push notice to `user`."""
    outbox.queue(
        kind,
        user.email,
        subject,
        "caregiving_notice",
        user_id=user.id,
        name=user.name,
        message=message,
        link=outbox.link(endpoint, **values),
    )
    notifications.enqueue(kind, [user.id], url=portal_path(endpoint, **values))


def _patient_user(patient: Patient) -> User | None:
    if patient.user_id is None:
        return None  # a minor without an account of their own: the clinic linked the guardian
    return db.session.get(User, patient.user_id)


def joined(grant: Grant, patient: Patient, caregiver: User) -> None:
    """Tell the patient that the person they invited accepted."""
    user = _patient_user(patient)
    if user is None:
        return
    _tell(
        user,
        "caregiver_joined",
        f"{caregiver.name} accepted your invitation",
        f"{caregiver.name} accepted your invitation and can now help you in CareCircle, "
        "as far as you chose. You can change or end that at any time.",
        "caregivers.people",
        patient_id=patient.id,
    )


def changed(grant: Grant, patient_name: str) -> None:
    """Tell the caregiver that what they may do changed."""
    caregiver = db.session.get(User, grant.caregiver_id)
    _tell(
        caregiver,
        "caregiving_changed",
        f"{patient_name} changed what you can do in CareCircle",
        f"{patient_name} changed what you can do for them in CareCircle. Sign in to see it.",
        "auth.index",
    )


def revoked(grant: Grant, patient_name: str) -> None:
    """Tell the caregiver that the patient ended their access."""
    caregiver = db.session.get(User, grant.caregiver_id)
    _tell(
        caregiver,
        "caregiving_ended",
        f"Your access to {patient_name}'s information has ended",
        f"{patient_name} ended your access to their information in CareCircle. "
        "Pages you saved on your devices are deleted the next time they are online.",
        "auth.index",
    )


def guardian_ended(grant: Grant, patient_name: str) -> None:
    """Tell a guardian that the clinic ended their access (never why: that stays with the team)."""
    guardian = db.session.get(User, grant.caregiver_id)
    _tell(
        guardian,
        "caregiving_ended",
        f"Your access to {patient_name}'s information has ended",
        f"{patient_name}'s clinic ended your access to their information in CareCircle "
        "as their parent or guardian. Pages you saved on your devices are deleted the next "
        "time they are online. If you have questions, please contact the clinic.",
        "auth.index",
    )


def stepped_down(grant: Grant, caregiver_name: str) -> None:
    """Tell the patient that a caregiver stepped down."""
    patient = db.session.get(Patient, grant.patient_id)
    user = _patient_user(patient)
    if user is None:
        return
    _tell(
        user,
        "caregiving_ended",
        f"{caregiver_name} no longer helps you in CareCircle",
        f"{caregiver_name} chose to stop helping you in CareCircle. "
        "They can no longer see your information.",
        "caregivers.people",
        patient_id=patient.id,
    )


def ending_soon(grant: Grant, patient_user: User, caregiver_name: str) -> None:
    """Remind the patient, 14 days ahead, that a grant is about to end."""
    _tell(
        patient_user,
        "caregiver_grant_ending",
        f"{caregiver_name}'s access ends soon",
        f"The access you gave {caregiver_name} in CareCircle ends in two weeks. "
        "To let them keep helping you, renew it.",
        "caregivers.people",
        patient_id=grant.patient_id,
    )
