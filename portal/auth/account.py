"""A signed-in person changes their password or email address, after typing the password.

A new email address takes effect only when the link sent to it is followed
(and confirmed with a button, so a mail scanner that opens links changes
nothing); the old address is then told. An address that already has an
account gets a mail saying so instead, and the page answers the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.auth import passwords, tokens
from portal.auth.models import User
from portal.auth.recovery import LinkInvalid, set_password
from portal.auth.services import authenticate, end_sessions, normalize_email, security_event
from portal.auth.tokens import AccountToken, TokenPurpose
from portal.db import utcnow
from portal.extensions import db
from portal.mail import outbox

CONFIRM_SUBJECT = "Confirm your new email address for CareCircle"
IN_USE_SUBJECT = "Someone tried to use this email address on CareCircle"
CHANGED_SUBJECT = "Your CareCircle email address was changed"


class EmailTaken(Exception):
    """The new address belongs to another account (found out when confirming)."""


def current_password_ok(user: User, password: str) -> bool:
    """Check the current password, counted like sign-in (raises SignInRefused when throttled)."""
    return authenticate(user.email, password) is not None


def change_password(
    user: User, new_password: str, *, keep_session: int | None, now: datetime | None = None
) -> None:
    """Set a new password; every other session of the account ends. Raises PasswordRejected."""
    passwords.check(new_password, user.email)
    set_password(user, new_password, now or utcnow())
    security_event(user.id, "password_changed")
    end_sessions(user.id, keep=keep_session)


def pending_email_change(user_id: int, now: datetime | None = None) -> AccountToken | None:
    """The open request to change this account's email address, if any."""
    return db.session.scalar(
        select(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == TokenPurpose.EMAIL_CHANGE,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > (now or utcnow()),
        )
        .order_by(AccountToken.created_at.desc())
        .limit(1)
    )


def request_email_change(user: User, new_email: str, now: datetime | None = None) -> None:
    """Send a confirmation link to the new address (or, if it has an account, say so there)."""
    now = now or utcnow()
    address = normalize_email(new_email)
    taken = db.session.scalar(select(User.id).where(User.email == address)) is not None
    if taken:
        outbox.queue(
            "email_in_use",
            address,
            IN_USE_SUBJECT,
            "email_in_use",
            forgot_link=outbox.link("auth.forgot_password"),
        )
        return
    tokens.retire(user.id, TokenPurpose.EMAIL_CHANGE, now)  # only the newest link works
    token, token_hash = tokens.new_token()
    hours = int(current_app.config["EMAIL_CONFIRM_HOURS"])
    db.session.add(
        AccountToken(
            token_hash=token_hash,
            purpose=TokenPurpose.EMAIL_CHANGE,
            user_id=user.id,
            email_digest=tokens.digest(address),
            new_email=address,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    outbox.queue(
        "email_confirm",
        address,
        CONFIRM_SUBJECT,
        "email_confirm",
        user_id=user.id,
        name=user.name,
        link=outbox.link("account.confirm_email", token=token),
        hours=hours,
    )


def email_change_for(token: str, now: datetime | None = None) -> AccountToken:
    """The open email change a link is for; raises LinkInvalid."""
    found = tokens.find(token, TokenPurpose.EMAIL_CHANGE, now or utcnow())
    if found is None:
        raise LinkInvalid
    return found


def confirm_email_change(token: str, now: datetime | None = None) -> User:
    """Make the new address the account's own; tell the old one. Raises LinkInvalid, EmailTaken."""
    now = now or utcnow()
    change = email_change_for(token, now)
    user = db.session.get(User, change.user_id)
    old_address, new_address = user.email, change.new_email
    if db.session.scalar(select(User.id).where(User.email == new_address)) is not None:
        raise EmailTaken
    if not tokens.consume(change, now):
        raise LinkInvalid
    try:
        with db.session.begin_nested():
            user.email = new_address
    except IntegrityError as error:  # another account took the address a moment ago
        raise EmailTaken from error
    security_event(user.id, "email_changed")
    # Reset links went to the old address: they stop working with it.
    tokens.retire(user.id, TokenPurpose.PASSWORD_RESET, now)
    outbox.queue(
        "email_changed",
        old_address,
        CHANGED_SUBJECT,
        "email_changed",
        user_id=user.id,
        name=user.name,
        masked_new=outbox.mask(new_address),
    )
    return user
