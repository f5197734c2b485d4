"""The notification outbox: rows written with the change that caused them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.careplan.models import _enum
from portal.db import utcnow
from portal.extensions import db


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    NO_DEVICE = "no_device"  # nothing to send to; kept for the record
    MUTED = "muted"  # the user turned this category off


class Notification(db.Model):
    """One notice for one user. Its text comes from its kind: never health information."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(300))  # a path inside the portal
    # Notices sharing a key collapse into one (digests: one per patient per clinician per hour).
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)  # digests, quiet hours, backoff
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus, 20), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


Index("ix_notifications_due", Notification.status, Notification.not_before)
Index("ix_notifications_user", Notification.user_id, Notification.created_at)
