"""Access matrix rows for password reset, the account page and email changes.

These are about an account, not a patient. Reset and confirmation links work
for whoever holds them, signed in or not: the link is the key.
"""

from datetime import timedelta

from portal.auth import tokens
from portal.auth.tokens import AccountToken, TokenPurpose
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD
from tests.matrix import LOGIN, RELATIONS, Case

SIGNED_IN = ("patient", "other_patient", "team", "off_team")
NO_ARGS = {"args": lambda demo: {}}


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(RELATIONS, status)


def signed_in(status: int) -> dict[str, int]:
    return {"anonymous": LOGIN, **dict.fromkeys(SIGNED_IN, status)}


def _link(demo, purpose: TokenPurpose, **fields) -> dict:
    """A live link for Alex, made for each request of the matrix."""
    token, token_hash = tokens.new_token()
    with demo.app.app_context():
        now = utcnow()
        db.session.add(
            AccountToken(
                token_hash=token_hash,
                purpose=purpose,
                user_id=demo.users["alex@example.com"],
                email_digest=tokens.digest("alex@example.com"),
                created_at=now,
                expires_at=now + timedelta(minutes=30),
                **fields,
            )
        )
        db.session.commit()
    return {"token": token}


def reset_link(demo) -> dict:
    return _link(demo, TokenPurpose.PASSWORD_RESET)


def email_link(demo) -> dict:
    return _link(demo, TokenPurpose.EMAIL_CHANGE, new_email="alex.morgan@example.org")


NEW_PASSWORD = "a walk by the river at dawn"

ROUTES = [
    Case("auth.forgot_password", everyone(200), **NO_ARGS),
    Case(
        "auth.forgot_password",
        everyone(200),
        method="POST",
        form=lambda demo: {"email": "alex@example.com"},
        **NO_ARGS,
    ),
    Case("auth.reset_password_link", everyone(302), args=reset_link),
    Case(
        "auth.reset_password_link",
        everyone(410),
        args=lambda demo: {"token": "not-a-real-link"},
        id="GET unknown reset link",
    ),
    # Without a link followed in this browser, the form is not there.
    Case("auth.reset_password", everyone(410), **NO_ARGS),
    Case(
        "auth.reset_password",
        everyone(410),
        method="POST",
        form=lambda demo: {"password": NEW_PASSWORD},
        **NO_ARGS,
    ),
    Case("account.index", signed_in(200), **NO_ARGS),
    Case("account.change_password", signed_in(200), **NO_ARGS),
    Case(
        "account.change_password",
        signed_in(302),
        method="POST",
        form=lambda demo: {"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD},
        **NO_ARGS,
    ),
    Case("account.change_email", signed_in(200), **NO_ARGS),
    Case(
        "account.change_email",
        signed_in(302),
        method="POST",
        form=lambda demo: {"email": "new.address@example.org", "current_password": DEMO_PASSWORD},
        **NO_ARGS,
    ),
    Case("account.confirm_email", everyone(200), args=email_link),
    Case("account.confirm_email", everyone(302), method="POST", args=email_link),
]
