"""Grants of delegated access, and the single-use invitations that lead to them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import utcnow
from portal.extensions import db


class GrantKind(enum.StrEnum):
    """Who made the grant: the patient themself, or clinic staff for a minor's guardian."""

    CAREGIVER = "caregiver"
    GUARDIAN = "guardian"


class Grant(db.Model):
    """What one person may do for one patient, from when until when.

    Active while `starts_at <= now < ends_at` and `revoked_at` is NULL:
    `portal.access.resolve` applies that rule on every request, so ending a
    grant needs no session to be touched.
    """

    __tablename__ = "caregiver_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    caregiver_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[GrantKind] = mapped_column(
        db.Enum(GrantKind, native_enum=False, length=20, validate_strings=True),
        default=GrantKind.CAREGIVER,
    )
    relationship: Mapped[str] = mapped_column(String(60))  # "Son", "Friend", "Mother"
    # The `access.Scope` values the grant names, space-separated (as OAuth writes scopes).
    scopes: Mapped[str] = mapped_column(String(300))
    include_sensitive: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # revoked, stepped_down, replaced, ended_by_clinic
    ended_reason: Mapped[str | None] = mapped_column(String(20))
    # Why the clinic ended a guardian's access (`guardians.END_CAUSES`) and what staff
    # wrote for the record: kept for the care team only, never put in a mail or notice.
    end_cause: Mapped[str | None] = mapped_column(String(30))
    end_note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[datetime | None]  # the "ends in 14 days" notice went out

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.starts_at <= now < self.ends_at


class Invitation(db.Model):
    """A patient's invitation to a caregiver: a single-use link valid for 7 days.

    Only the SHA-256 of the link's token is stored, so a copy of the database
    holds no live invitation. The grant it offers is described here and made
    when the caregiver accepts with their own account.
    """

    __tablename__ = "caregiver_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[GrantKind] = mapped_column(
        db.Enum(GrantKind, native_enum=False, length=20, validate_strings=True),
        default=GrantKind.CAREGIVER,
    )
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    relationship: Mapped[str] = mapped_column(String(60))
    scopes: Mapped[str] = mapped_column(String(300))
    include_sensitive: Mapped[bool] = mapped_column(default=False)
    grant_ends_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    grant_id: Mapped[int | None] = mapped_column(
        ForeignKey("caregiver_grants.id", ondelete="SET NULL")
    )

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.cancelled_at is None and now < self.expires_at


# resolve() looks a grant up by (patient, caregiver) on every request.
Index("ix_caregiver_grants_patient_caregiver", Grant.patient_id, Grant.caregiver_id)
