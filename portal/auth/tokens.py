"""Single-use links sent by mail: a password reset, a new email address to confirm.

The link carries a random 32-byte token; the database keeps only its SHA-256,
so a copy of the database opens no account. A token works once (`consume` is
a conditional UPDATE, so two clicks racing cannot both win), until it
expires, and only while its account is active.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from portal.auth.models import User
from portal.db import utcnow
from portal.extensions import db


class TokenPurpose(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105  (a purpose, not a secret)
    EMAIL_CHANGE = "email_change"
    ACTIVATION = "activation"  # a new account's first password (portal/enrolment)


class AccountToken(db.Model):
    """One link sent by mail. `user_id` is empty for a reset asked for an unknown address."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[TokenPurpose] = mapped_column(
        db.Enum(TokenPurpose, native_enum=False, length=20, validate_strings=True)
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the address the request named: limits requests per address.
    email_digest: Mapped[str] = mapped_column(String(64))
    new_email: Mapped[str | None] = mapped_column(String(254))  # an email change's new address
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


Index("ix_account_tokens_requests", AccountToken.email_digest, AccountToken.created_at)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random token for a link, and the hash to store: (token, hash)."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def find(token: str, purpose: TokenPurpose, now: datetime | None = None) -> AccountToken | None:
    """The unused, unexpired token of an active account that this link carries, or None."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    return db.session.scalar(
        select(AccountToken)
        .join(User, User.id == AccountToken.user_id)
        .where(
            AccountToken.token_hash == digest(token),
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
            User.is_active_account.is_(True),
        )
    )


def consume(token: AccountToken, now: datetime | None = None) -> bool:
    """Mark a token used; False when another request used it first."""
    used = db.session.execute(
        update(AccountToken)
        .where(AccountToken.id == token.id, AccountToken.used_at.is_(None))
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def retire(user_id: int, purpose: TokenPurpose, now: datetime | None = None) -> None:
    """Make every unused link of this purpose for an account stop working."""
    db.session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


def purge(before: datetime) -> int:
    """Delete links that expired before `before` (they can only be refused); how many."""
    gone = db.session.execute(
        delete(AccountToken)
        .where(AccountToken.expires_at < before)
        .execution_options(synchronize_session=False)
    )
    return gone.rowcount
