"""Accounts, server-side sessions, and sign-in throttling."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import utcnow
from portal.extensions import db


class UserKind(enum.StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    CAREGIVER = "caregiver"
    ADMIN = "admin"


class Discipline(enum.StrEnum):
    """The disciplines of an integrated care team."""

    PRIMARY_CARE = "primary_care"
    SPECIALIST = "specialist"
    BEHAVIORAL_HEALTH = "behavioral_health"
    PSYCHIATRY = "psychiatry"
    NUTRITION = "nutrition"
    SOCIAL_WORK = "social_work"
    PHARMACY = "pharmacy"
    NURSING = "nursing"

    @property
    def label(self) -> str:
        return DISCIPLINE_LABELS[self]


DISCIPLINE_LABELS = {
    Discipline.PRIMARY_CARE: "Primary care",
    Discipline.SPECIALIST: "Specialist care",
    Discipline.BEHAVIORAL_HEALTH: "Behavioral health",
    Discipline.PSYCHIATRY: "Psychiatry",
    Discipline.NUTRITION: "Nutrition",
    Discipline.SOCIAL_WORK: "Social work",
    Discipline.PHARMACY: "Pharmacy",
    Discipline.NURSING: "Nursing",
}


class User(UserMixin, db.Model):
    """A person who signs in: a patient, a clinician, or a family caregiver."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[UserKind] = mapped_column(
        db.Enum(UserKind, native_enum=False, length=20, validate_strings=True)
    )
    # Clinicians: their discipline and how patients see them ("Primary care physician").
    discipline: Mapped[Discipline | None] = mapped_column(
        db.Enum(Discipline, native_enum=False, length=30, validate_strings=True)
    )
    job_title: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    is_active_account: Mapped[bool] = mapped_column(default=True)
    # When the owner first chose a password; None while an activation mail waits
    # (an account enrolled by the practice, portal/enrolment). No column default:
    # SQLAlchemy would fill it in for an explicit None.
    activated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled account cannot sign in
        return self.is_active_account

    @property
    def is_clinician(self) -> bool:
        return self.kind is UserKind.CLINICIAN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.kind}>"


class AuthSession(db.Model):
    """A signed-in session, held on the server so sign-out and revocation are real."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the random token kept in the signed cookie: a database leak
    # does not hand out live sessions.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(200))
    # Set while the second step of sign-in is due ("code") or a required second
    # factor must first be set up ("enrol"): such a session signs nobody in.
    pending: Mapped[str | None] = mapped_column(String(10))
    # When this session's second factor was checked (NULL: a password alone).
    second_factor_at: Mapped[datetime | None]
    client_addr: Mapped[str | None] = mapped_column(String(45))  # for "Your devices"


class LoginThrottle(db.Model):
    """Failed sign-ins per email address (hashed), whether or not the account exists."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


Index("ix_auth_sessions_user_active", AuthSession.user_id, AuthSession.revoked_at)
