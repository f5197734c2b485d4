"""Access matrix rows for caregivers: People who help me, invitations, stepping down, guardians."""

import secrets
from datetime import timedelta

from sqlalchemy import select

from portal.caregivers.models import Grant, GrantKind, Invitation
from portal.db import utcnow
from portal.extensions import db
from portal.patients import Patient
from tests.matrix import HIDDEN, LOGIN, RELATIONS, Case, patient_page

SELF_ONLY = patient_page(team=403)  # the patient decides who helps them; the team may not
SELF_DONE = patient_page(patient=302, team=403)
GONE = dict.fromkeys(RELATIONS, 410)  # no invitation in this browser's session


def sam_grant(demo) -> dict:
    with demo.app.app_context():
        grant_id = db.session.scalar(
            select(Grant.id).where(Grant.caregiver_id == demo.users["sam@example.com"])
        )
    return {"patient_id": demo.alex, "grant_id": grant_id}


def waiting_invitation(demo) -> dict:
    with demo.app.app_context():
        now = utcnow()
        invitation = Invitation(
            token_hash=secrets.token_hex(32),  # made anew for each relation's request
            patient_id=demo.alex,
            name="Robin",
            email="robin@example.com",
            relationship="Friend",
            scopes="plan:read",
            grant_ends_at=now + timedelta(days=30),
            expires_at=now + timedelta(days=7),
        )
        db.session.add(invitation)
        db.session.commit()
        return {"patient_id": demo.alex, "invitation_id": invitation.id}


def invite_form(demo) -> dict:
    ends = (utcnow() + timedelta(days=90)).date().isoformat()
    return {
        "name": "Robin Lane",
        "email": "robin@example.com",
        "relationship": "Friend",
        "choices": ["plan", "goals"],
        "ends_on": ends,
    }


def scopes_form(demo) -> dict:
    ends = (utcnow() + timedelta(days=120)).date().isoformat()
    return {"choices": ["plan"], "ends_on": ends}


def guardian_form(demo) -> dict:
    return {"name": "Kim Morgan", "email": "kim@example.com", "relationship": "Mother"}


def _robin() -> int:
    return db.session.scalar(select(Patient.id).where(Patient.given_name == "Robin"))


def robins_guardian(demo) -> dict:
    """Blake's guardian grant for Robin (14), the demo's minor."""
    with demo.app.app_context():
        robin = _robin()
        grant_id = db.session.scalar(
            select(Grant.id).where(Grant.patient_id == robin, Grant.kind == GrantKind.GUARDIAN)
        )
    return {"patient_id": robin, "grant_id": grant_id}


def guardian_invitation(demo) -> dict:
    with demo.app.app_context():
        now = utcnow()
        robin = _robin()
        invitation = Invitation(
            token_hash=secrets.token_hex(32),
            kind=GrantKind.GUARDIAN,
            patient_id=robin,
            name="Jo Ortiz",
            email="jo@example.com",
            relationship="Father",
            scopes="plan:read",
            grant_ends_at=now + timedelta(days=300),
            expires_at=now + timedelta(days=7),
        )
        db.session.add(invitation)
        db.session.commit()
        return {"patient_id": robin, "invitation_id": invitation.id}


def end_guardian_form(demo) -> dict:
    return {"cause": "custody_change", "note": "Custody order of 1 December"}


# About Robin, the demo's minor: Chen ("off_team" for Alex) is Robin's lead clinician,
# Blake ("other_patient") Robin's guardian, who may not end anyone's access; Rivera
# ("team") and every other relation have nothing to do with Robin.
def robins_lead(status: int) -> dict[str, int]:
    return {
        "anonymous": LOGIN,
        "patient": HIDDEN,
        "other_patient": 403,
        "team": HIDDEN,
        "off_team": status,
        "admin": HIDDEN,
    }


# Only a caregiver steps down; the patient and the team have nothing to step down from.
STEP_DOWN = patient_page(patient=403, team=403, caregiver=200)

ROUTES = [
    Case("caregivers.people", SELF_ONLY),
    Case("caregivers.invite", SELF_ONLY),
    Case("caregivers.invite", SELF_DONE, method="POST", form=invite_form),
    Case("caregivers.cancel_invitation", SELF_DONE, method="POST", args=waiting_invitation),
    Case("caregivers.edit", SELF_ONLY, args=sam_grant),
    Case("caregivers.edit", SELF_DONE, method="POST", args=sam_grant, form=scopes_form),
    Case("caregivers.revoke", SELF_ONLY, args=sam_grant),
    Case("caregivers.revoke", SELF_DONE, method="POST", args=sam_grant),
    Case("caregivers.step_down", STEP_DOWN),
    Case("caregivers.step_down", {**STEP_DOWN, "caregiver": 302}, method="POST"),
    # Alex is an adult: the page says no guardian can be linked, and a link is refused.
    Case("caregivers.link_guardian", patient_page(patient=403)),
    Case(
        "caregivers.link_guardian",
        patient_page(patient=403, team=422),
        method="POST",
        form=guardian_form,
    ),
    # Only the lead clinician (team:manage) ends a guardian's access, or a waiting invitation.
    Case("caregivers.end_guardian", robins_lead(200), args=robins_guardian),
    Case(
        "caregivers.end_guardian",
        robins_lead(302),
        method="POST",
        args=robins_guardian,
        form=end_guardian_form,
    ),
    Case(
        "caregivers.cancel_guardian_invitation",
        robins_lead(302),
        method="POST",
        args=guardian_invitation,
    ),
    # The mail's link works for whoever holds it: it moves into the session.
    Case(
        "caregivers.invitation_link",
        dict.fromkeys(RELATIONS, 302),
        args=lambda demo: {"token": "not-a-real-token"},
    ),
    Case("caregivers.accept_page", GONE, args=lambda demo: {}),
    Case("caregivers.accept_page", GONE, method="POST", args=lambda demo: {}),
    Case("caregivers.register", GONE, method="POST", args=lambda demo: {}),
    Case(
        "api.me_patients",
        {**dict.fromkeys(RELATIONS, 200), "anonymous": 401},
        args=lambda demo: {},
    ),
    Case(
        "caregivers.helping",
        {**dict.fromkeys(RELATIONS, 200), "anonymous": LOGIN},
        args=lambda demo: {},
    ),
]

__all__ = ["HIDDEN", "ROUTES"]
