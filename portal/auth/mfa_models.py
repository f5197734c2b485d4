"""Second factors: a TOTP authenticator per account and its single-use recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import utcnow
from portal.extensions import db


class TotpCredential(db.Model):
    """An account's authenticator app: its secret (sealed) and the last time step it accepted."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Fernet-sealed with a key derived from SECRET_KEY: a database copy holds no live secret.
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # NULL while being set up: sign-in asks for a code only once one was confirmed.
    confirmed_at: Mapped[datetime | None]
    # The newest 30-second step a code was accepted for: an older or equal one is a replay.
    last_step: Mapped[int | None]


class RecoveryCode(db.Model):
    """One single-use recovery code, kept only as a keyed hash."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
