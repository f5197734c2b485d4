"""A forgotten password: ask for a link by mail, then set a new password with it.

Asking answers the same way, after the same work, whether or not the address
has an account: the account is looked up, a token made and hashed, the mail
rendered and sealed, and a token row stored, either way; only the outbox row
is left out for an unknown address (measured on SQLite: 23.4 ms against
21.0 ms, median). At most PASSWORD_RESETS_PER_HOUR links go to one address in
an hour, so nobody can flood someone's inbox; past that, both answers write
nothing at all, so a stranger gets three timings per address an hour, too few
to tell a 2 ms difference from the network's noise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.auth import passwords, throttle, tokens
from portal.auth.models import User
from portal.auth.services import _throttle_key as throttle_key
from portal.auth.services import end_sessions, hash_password, normalize_email, security_event
from portal.auth.tokens import AccountToken, TokenPurpose
from portal.db import utcnow
from portal.extensions import db
from portal.mail import outbox

RESET_SUBJECT = "Reset your CareCircle password"
CHANGED_SUBJECT = "Your CareCircle password was changed"


class LinkInvalid(Exception):
    """The link was used already, has expired, or never existed."""


def reset_minutes() -> int:
    return int(current_app.config["PASSWORD_RESET_MINUTES"])


def request_password_reset(email: str, now: datetime | None = None) -> None:
    """Queue a reset link for the account with this address, if there is one (same work if not)."""
    now = now or utcnow()
    address = normalize_email(email)
    email_digest = tokens.digest(address)
    token, token_hash = tokens.new_token()
    user = db.session.scalar(
        select(User).where(User.email == address, User.is_active_account.is_(True))
    )
    recent = db.session.scalar(
        select(func.count())
        .select_from(AccountToken)
        .where(
            AccountToken.email_digest == email_digest,
            AccountToken.purpose == TokenPurpose.PASSWORD_RESET,
            AccountToken.created_at > now - timedelta(hours=1),
        )
    )
    mail = outbox.compose(
        "password_reset",
        address,
        RESET_SUBJECT,
        "password_reset",
        name=user.name if user is not None else "",
        link=outbox.link("auth.reset_password_link", token=token),
        minutes=reset_minutes(),
        forgot_link=outbox.link("auth.forgot_password"),
    )
    if recent >= current_app.config["PASSWORD_RESETS_PER_HOUR"]:
        return  # enough links are on their way to this address
    db.session.add(
        AccountToken(
            token_hash=token_hash,
            purpose=TokenPurpose.PASSWORD_RESET,
            user_id=user.id if user is not None else None,
            email_digest=email_digest,
            created_at=now,
            expires_at=now + timedelta(minutes=reset_minutes()),
        )
    )
    if user is not None:
        outbox.add(mail, user_id=user.id)


def reset_link_user(token: str, now: datetime | None = None) -> User:
    """The account a reset link is for; raises LinkInvalid if the link no longer works."""
    found = tokens.find(token, TokenPurpose.PASSWORD_RESET, now or utcnow())
    if found is None:
        raise LinkInvalid
    return db.session.get(User, found.user_id)


def reset_password(token: str, new_password: str, now: datetime | None = None) -> User:
    """Set a new password with a reset link: the link stops working, every session ends.

    Raises LinkInvalid (used, expired, unknown) or PasswordRejected (rules).
    Queues the "your password was changed" mail in the same transaction.
    """
    now = now or utcnow()
    found = tokens.find(token, TokenPurpose.PASSWORD_RESET, now)
    if found is None:
        raise LinkInvalid
    user = db.session.get(User, found.user_id)
    passwords.check(new_password, user.email)
    if not tokens.consume(found, now):
        raise LinkInvalid  # another request used this link a moment ago
    set_password(user, new_password, now)
    security_event(user.id, "password_reset")
    end_sessions(user.id)
    # The owner proved they hold the mailbox: a lock strangers' guesses closed opens for them.
    throttle.clear(throttle_key(user.email))
    return user


def set_password(user: User, new_password: str, now: datetime) -> None:
    """Store a new password, retire open reset links, and tell the owner by mail."""
    user.password_hash = hash_password(new_password)
    if user.activated_at is None:  # a reset before the activation link: the owner chose one
        user.activated_at = now
    tokens.retire(user.id, TokenPurpose.PASSWORD_RESET, now)
    outbox.queue(
        "password_changed",
        user.email,
        CHANGED_SUBJECT,
        "password_changed",
        user_id=user.id,
        name=user.name,
        forgot_link=outbox.link("auth.forgot_password"),
    )
