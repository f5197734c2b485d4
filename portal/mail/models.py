"""The mail outbox: one row per message, its content sealed until it is sent."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import utcnow
from portal.extensions import db


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMail(db.Model):
    """One message to one address, queued in the transaction of the change that causes it.

    `sealed` holds the whole message (address, subject, both parts) encrypted
    with a key derived from SECRET_KEY, because a reset mail carries a live
    link: the database alone hands out none. It is wiped once the mail is
    settled (sent, or given up on). The deliverer claims due rows with a lease
    (`claimed_by`, `claimed_until`); retries move `not_before` forward.
    """

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # which mail, e.g. "password_reset"
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Kept across retries, so a resend after a crash mid-send is recognisably the same mail.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[MailStatus] = mapped_column(
        db.Enum(MailStatus, native_enum=False, length=20, validate_strings=True),
        default=MailStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


Index("ix_mail_outbox_due", OutboxMail.status, OutboxMail.not_before)
