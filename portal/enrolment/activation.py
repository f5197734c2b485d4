"""Activation links: a new account's owner chooses their first password by mail.

An account the practice makes has a random password nobody knows (hashed like
any other, so signing in to it costs the same) and `activated_at` empty. The
link is an `AccountToken` (only its SHA-256 is stored) that works once, for
ACTIVATION_DAYS days; sending it again retires the one before, so only the
newest link in the inbox works.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.auth import passwords, tokens
from portal.auth.models import User, UserKind
from portal.auth.recovery import LinkInvalid
from portal.auth.services import hash_password, normalize_email, security_event
from portal.auth.tokens import AccountToken, TokenPurpose
from portal.db import utcnow
from portal.extensions import db
from portal.mail import outbox

ACTIVATION_DAYS = 7
SUBJECT = "Your CareCircle account is ready to use"


class EmailTaken(ValueError):
    """Another account already signs in with this address."""


class AlreadyActive(ValueError):
    """The owner has chosen a password already: there is nothing to send."""


def email_taken(address: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == address)) is not None


def new_account(email: str, name: str, kind: UserKind, **fields) -> User:
    """An account waiting for its owner's first password; raises EmailTaken."""
    address = normalize_email(email)
    if email_taken(address):
        raise EmailTaken(address)
    user = User(
        email=address,
        # Nobody knows this password: signing in to a waiting account fails like a wrong one.
        password_hash=hash_password(secrets.token_urlsafe(32)),
        name=name,
        kind=kind,
        activated_at=None,
        **fields,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError as error:  # the same address enrolled a moment ago
        raise EmailTaken(address) from error
    return user


def send_link(user: User, now: datetime | None = None) -> None:
    """Mail (again) the link to choose a first password; earlier links stop working."""
    if user.activated_at is not None:
        raise AlreadyActive(user.email)
    now = now or utcnow()
    tokens.retire(user.id, TokenPurpose.ACTIVATION, now)
    token, token_hash = tokens.new_token()
    db.session.add(
        AccountToken(
            token_hash=token_hash,
            purpose=TokenPurpose.ACTIVATION,
            user_id=user.id,
            email_digest=tokens.digest(user.email),
            created_at=now,
            expires_at=now + timedelta(days=ACTIVATION_DAYS),
        )
    )
    outbox.queue(
        "activation",
        user.email,
        SUBJECT,
        "activation",
        user_id=user.id,
        name=user.name,
        is_patient=user.kind is UserKind.PATIENT,
        link=outbox.link("enrolment.activate_link", token=token),
        days=ACTIVATION_DAYS,
    )


def pending_link(user_id: int) -> AccountToken | None:
    """The newest activation link not yet used or replaced (it may have expired)."""
    return db.session.scalar(
        select(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == TokenPurpose.ACTIVATION,
            AccountToken.used_at.is_(None),
        )
        .order_by(AccountToken.created_at.desc())
        .limit(1)
    )


def account_for(token: str, now: datetime | None = None) -> User:
    """The waiting account a live link is for; raises LinkInvalid."""
    found = tokens.find(token, TokenPurpose.ACTIVATION, now or utcnow())
    if found is None:
        raise LinkInvalid
    user = db.session.get(User, found.user_id)
    if user.activated_at is not None:
        raise LinkInvalid
    return user


def activate(token: str, password: str, now: datetime | None = None) -> User:
    """Set the first password with a link; the link stops working. Raises LinkInvalid,
    PasswordRejected."""
    now = now or utcnow()
    found = tokens.find(token, TokenPurpose.ACTIVATION, now)
    if found is None:
        raise LinkInvalid
    user = db.session.get(User, found.user_id)
    if user.activated_at is not None:
        raise LinkInvalid
    passwords.check(password, user.email)
    if not tokens.consume(found, now):
        raise LinkInvalid  # another request used this link a moment ago
    user.password_hash = hash_password(password)
    user.activated_at = now
    security_event(user.id, "account_activated")
    return user


def resend_expired(token: str, now: datetime | None = None) -> bool:
    """Send a new link in place of an expired one that was never used; False if it cannot be.

    Whoever holds the old link can already read the mailbox it went to, so a
    new link to that same address gives them nothing new; the old link is
    retired, so each expired link brings at most one new mail.
    """
    now = now or utcnow()
    if not token or len(token) > 100:
        return False
    found = db.session.scalar(
        select(AccountToken)
        .join(User, User.id == AccountToken.user_id)
        .where(
            AccountToken.token_hash == tokens.digest(token),
            AccountToken.purpose == TokenPurpose.ACTIVATION,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at <= now,
            User.is_active_account.is_(True),
            User.activated_at.is_(None),
        )
    )
    if found is None:
        return False
    send_link(db.session.get(User, found.user_id), now)
    return True
