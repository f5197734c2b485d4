"""Access matrix rows for two-step sign-in, its account pages and the administrator's reset.

Account pages, not patient pages. The second step of sign-in (`/login/code`,
`/login/setup`) exists only for a browser half-way through signing in: every
relation here is either fully signed in or not at all, so each is sent to sign in.
Demo clinicians have a second factor; demo patients have none yet.
"""

import uuid

from tests.conftest import DEMO_PASSWORD
from tests.matrix import LOGIN, RELATIONS, Case

NO_ARGS = {"args": lambda demo: {}}
CLINICIANS = ("team", "off_team", "admin")  # staff: a second factor required, and set up
PATIENTS = ("patient", "other_patient")


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(RELATIONS, status)


def by_kind(patients: int, clinicians: int) -> dict[str, int]:
    return {
        "anonymous": LOGIN,
        **dict.fromkeys(PATIENTS, patients),
        **dict.fromkeys(CLINICIANS, clinicians),
    }


CODE = {"code": "000000"}
PASSWORD = {"current_password": DEMO_PASSWORD}

ROUTES = [
    Case("signin.code", everyone(302), **NO_ARGS),
    Case("signin.code", everyone(302), method="POST", form=lambda demo: CODE, **NO_ARGS),
    Case("signin.setup", everyone(302), **NO_ARGS),
    Case("signin.setup", everyone(302), method="POST", form=lambda demo: CODE, **NO_ARGS),
    Case("signin.settings", by_kind(200, 200), **NO_ARGS),
    # Patients may set one up; clinicians already have theirs.
    Case("signin.account_setup", by_kind(200, 302), **NO_ARGS),
    Case(
        "signin.account_setup",
        by_kind(422, 302),
        method="POST",
        form=lambda demo: CODE,
        **NO_ARGS,
    ),
    # Nothing to turn off for a patient without one; a clinician may not.
    Case("signin.turn_off", by_kind(302, 200), **NO_ARGS),
    Case(
        "signin.turn_off",
        by_kind(302, 403),
        method="POST",
        form=lambda demo: PASSWORD,
        **NO_ARGS,
    ),
    Case("signin.recovery_codes", by_kind(302, 200), **NO_ARGS),
    Case(
        "signin.recovery_codes",
        by_kind(302, 200),
        method="POST",
        form=lambda demo: PASSWORD,
        **NO_ARGS,
    ),
    # Only an administrator resets a second factor (and is sent back to the account).
    Case(
        "signin.admin_reset",
        {**by_kind(404, 404), "admin": 302},
        method="POST",
        args=lambda demo: {"user_id": demo.users["rivera@example.com"]},
    ),
]


def alex_other_session(demo) -> dict:
    """A live session of Alex's on another phone, made for each request of the matrix."""
    from portal.auth.models import AuthSession
    from portal.extensions import db

    with demo.app.app_context():
        row = AuthSession(
            token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
            user_id=demo.users["alex@example.com"],
            user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1",
        )
        db.session.add(row)
        db.session.commit()
        return {"session_id": row.id}


ROUTES += [
    Case("signin.devices", by_kind(200, 200), **NO_ARGS),
    # Only the account's own other sessions; anyone else's is not there (404).
    Case(
        "signin.sign_out_device",
        {**by_kind(404, 404), "patient": 302},
        method="POST",
        args=alex_other_session,
    ),
    Case("signin.sign_out_others", by_kind(302, 302), method="POST", **NO_ARGS),
]
