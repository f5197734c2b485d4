"""Access matrix rows for the administration area, enrolment, activation links, profiles.

/admin is for administrators only: everyone else gets 404 (signed out: sign in
first). Any clinician or administrator enrols a patient; a patient's account
status page is the care team's. Activation links work for whoever holds them.
"""

from datetime import timedelta

from portal.auth import tokens
from portal.auth.models import User, UserKind
from portal.auth.tokens import AccountToken, TokenPurpose
from portal.db import utcnow
from portal.extensions import db
from tests.matrix import HIDDEN, LOGIN, Case, patient_page

NO_ARGS = {"args": lambda demo: {}}
ADMIN_ONLY = {
    "anonymous": LOGIN,
    "patient": HIDDEN,
    "other_patient": HIDDEN,
    "team": HIDDEN,
    "off_team": HIDDEN,
    "admin": 200,
}
ADMIN_DONE = {**ADMIN_ONLY, "admin": 302}
# Enrolment: administrators and every clinician, on or off Alex's team.
ENROLERS = {**ADMIN_ONLY, "team": 200, "off_team": 200}
ENROLED = {**ENROLERS, "team": 302, "off_team": 302, "admin": 302}
LINK = {r: 302 for r in ADMIN_ONLY}
GONE = {r: 410 for r in ADMIN_ONLY}


def blake(demo) -> dict:
    return {"user_id": demo.users["blake@example.com"]}


def waiting_account(demo) -> dict:
    """A clinician account waiting for its first password, with a live link."""
    token, token_hash = tokens.new_token()
    with demo.app.app_context():
        now = utcnow()
        user = User(
            email=f"new-{token_hash[:8]}@example.org",
            password_hash="!",
            name="Kim New",
            kind=UserKind.CLINICIAN,
        )
        db.session.add(user)
        db.session.flush()
        db.session.add(
            AccountToken(
                token_hash=token_hash,
                purpose=TokenPurpose.ACTIVATION,
                user_id=user.id,
                email_digest=tokens.digest(user.email),
                created_at=now,
                expires_at=now + timedelta(days=7),
            )
        )
        db.session.commit()
        return {"user_id": user.id, "token": token}


def activation_link(demo) -> dict:
    return {"token": waiting_account(demo)["token"]}


def waiting_user(demo) -> dict:
    return {"user_id": waiting_account(demo)["user_id"]}


def new_patient(demo) -> dict:
    return {
        "given_name": "Dana",
        "family_name": "Reyes",
        "birth_day": "27",
        "birth_month": "3",
        "birth_year": "1968",
        "email": "dana@example.net",
        "lead_id": str(demo.users["rivera@example.com"]),  # asked of administrators only
    }


SIGNED_IN = {**{r: 200 for r in ADMIN_ONLY}, "anonymous": LOGIN}
SAVED = {**{r: 302 for r in ADMIN_ONLY}, "anonymous": LOGIN}

ROUTES = [
    Case("profile.edit", SIGNED_IN, **NO_ARGS),
    Case(
        "profile.edit",
        SAVED,
        method="POST",
        form=lambda demo: {"name": "Pat Renamed", "timezone": "Europe/Lisbon"},
        **NO_ARGS,
    ),
    Case("admin.accounts", ADMIN_ONLY, **NO_ARGS),
    Case("admin.new_clinician", ADMIN_ONLY, **NO_ARGS),
    Case(
        "admin.new_clinician",
        ADMIN_DONE,
        method="POST",
        form=lambda demo: {"name": "Kim New", "email": "kim@example.org", "discipline": "nursing"},
        **NO_ARGS,
    ),
    Case("admin.account", ADMIN_ONLY, args=blake),
    Case("admin.disable", ADMIN_DONE, method="POST", args=blake),
    Case("admin.enable", ADMIN_DONE, method="POST", args=blake),
    Case("admin.resend", ADMIN_DONE, method="POST", args=waiting_user),
    Case(
        "admin.correct_email",
        ADMIN_DONE,
        method="POST",
        args=waiting_user,
        form=lambda demo: {"email": "kim.new@example.org"},
    ),
    Case("enrolment.new_patient", ENROLERS, **NO_ARGS),
    Case("enrolment.new_patient", ENROLED, method="POST", form=new_patient, **NO_ARGS),
    # Alex's account status is the care team's; an administrator has no relation to Alex.
    Case("enrolment.patient_activation", patient_page(patient=403, admin=HIDDEN)),
    # Alex has set up the account already: there is no link to send again.
    Case(
        "enrolment.patient_activation",
        patient_page(patient=403, team=409, admin=HIDDEN),
        method="POST",
    ),
    Case("enrolment.activate_link", LINK, args=activation_link),
    Case(
        "enrolment.activate_link",
        GONE,
        args=lambda demo: {"token": "not-a-real-link"},
        id="GET unknown activation link",
    ),
    # Without a link followed in this browser, the form is not there.
    Case("enrolment.activate", GONE, **NO_ARGS),
    Case(
        "enrolment.activate",
        GONE,
        method="POST",
        form=lambda demo: {"password": "a walk by the river at dawn"},
        **NO_ARGS,
    ),
    Case(
        "enrolment.resend",
        GONE,
        method="POST",
        form=lambda demo: {"token": "not-a-real-link"},
        **NO_ARGS,
    ),
]
