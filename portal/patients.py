"""The patient record: who the plan is about. Every patient-scoped row points here."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import utcnow
from portal.extensions import db


class Patient(db.Model):
    """A patient of the practice, optionally linked to the account they sign in with.

    The shared care plan's own bookkeeping (its version, and the version the
    patient last agreed to) lives here: there is exactly one plan per patient.
    """

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    given_name: Mapped[str] = mapped_column(String(80))
    family_name: Mapped[str] = mapped_column(String(80))
    birth_date: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    plan_version: Mapped[int] = mapped_column(default=0)
    plan_updated_at: Mapped[datetime | None]
    plan_agreed_version: Mapped[int | None]
    plan_agreed_at: Mapped[datetime | None]
    # Renewed by database triggers whenever anything shown about this patient
    # changes, however it is written (portal/versions.py): names kept pages.
    data_version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class PageVersions(db.Model):
    """One row: `people` is renewed by a trigger whenever a user's shown details change."""

    __tablename__ = "page_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    people: Mapped[int] = mapped_column(BigInteger, server_default="0")

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"
