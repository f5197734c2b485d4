"""Push notifications: the outbox, devices (push subscriptions) and per-user preferences."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
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
    """One notice for one user. Its text comes from its kind: never health information.

    The deliverer claims due rows with a lease (`claimed_by`, `claimed_until`):
    a crashed deliverer's claims expire and another picks them up. Retries move
    `not_before` forward (backoff, Retry-After); quiet hours do the same.
    """

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


class PushSubscription(db.Model):
    """One device (browser) that receives a user's notices: a Web Push subscription."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(120))  # base64url, as the browser gives it
    auth: Mapped[str] = mapped_column(String(60))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(80), default="A web browser")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None]

    @property
    def info(self) -> dict:
        """The subscription as pywebpush takes it (the browser's PushSubscription.toJSON())."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class PushDelivery(db.Model):
    """A notice delivered to one device: written as each send succeeds.

    A notice goes to all of its user's devices. When some sends succeed and
    others must be retried (or the deliverer crashes), these marks keep the
    retry from sending to a device twice.
    """

    __tablename__ = "push_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "subscription_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    # No foreign key: the mark outlives a device that is removed later.
    subscription_id: Mapped[int]
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationPreference(db.Model):
    """A user's choices: which categories notify, quiet hours, the daily reminder.

    Times are wall-clock times in the user's own time zone (`User.timezone`).
    A user without a row has every category on, no quiet hours, no reminder.
    """

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Category names (see portal.notifications.kinds.CATEGORIES) the user turned off.
    muted: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    reminder_time: Mapped[time | None]  # the daily goal reminder (patients)
    last_reminder_on: Mapped[date | None]  # the local day of the last reminder enqueued
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def is_muted(self, category: str) -> bool:
        return category in (self.muted or [])
