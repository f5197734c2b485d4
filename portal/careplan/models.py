"""The shared care plan: care team, health concerns, activities, revisions."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Discipline, User
from portal.db import utcnow
from portal.extensions import db


def _enum(cls: type[enum.Enum], length: int = 30):
    return db.Enum(cls, native_enum=False, length=length, validate_strings=True)


class Sensitivity(enum.StrEnum):
    """Kinds of sensitive information that delegated access hides by default."""

    BEHAVIORAL_HEALTH = "behavioral_health"
    SUBSTANCE_USE = "substance_use"
    SEXUAL_HEALTH = "sexual_health"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ItemStatus(enum.StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    RETIRED = "retired"


class ConcernCategory(enum.StrEnum):
    """Health concerns, including the social needs an integrated plan addresses."""

    PHYSICAL = "physical"
    MENTAL = "mental"
    SOCIAL = "social"  # housing, food, transport, money, isolation
    FUNCTIONAL = "functional"

    @property
    def label(self) -> str:
        return CONCERN_LABELS[self]


CONCERN_LABELS = {
    ConcernCategory.PHYSICAL: "Physical health",
    ConcernCategory.MENTAL: "Mental and emotional health",
    ConcernCategory.SOCIAL: "Social needs (housing, food, money, transport)",
    ConcernCategory.FUNCTIONAL: "Daily living",
}


class ActivityStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    RETIRED = "retired"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Assignee(enum.StrEnum):
    """Who carries out an activity."""

    TEAM = "team"  # a care-team member (assignee_user_id)
    PATIENT = "patient"
    CAREGIVER = "caregiver"


class CareTeamMember(db.Model):
    """A clinician on a patient's care team, in a role."""

    __tablename__ = "care_team_members"
    __table_args__ = (UniqueConstraint("patient_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(120))  # "Primary care physician"
    discipline: Mapped[Discipline] = mapped_column(_enum(Discipline))
    is_lead: Mapped[bool] = mapped_column(default=False)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")


class PlanItemMixin:
    """Columns every plan item shares: text, sensitivity, status, who touched it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    sensitivity: Mapped[Sensitivity | None] = mapped_column(_enum(Sensitivity))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def sensitive(self) -> bool:
        return self.sensitivity is not None


class Concern(PlanItemMixin, db.Model):
    """A health concern on the plan (FHIR Condition with category health-concern)."""

    __tablename__ = "concerns"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[ConcernCategory] = mapped_column(_enum(ConcernCategory))
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus), default=ItemStatus.ACTIVE)


class Activity(PlanItemMixin, db.Model):
    """What someone does for the plan (FHIR CarePlan.activity)."""

    __tablename__ = "activities"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    discipline: Mapped[Discipline] = mapped_column(_enum(Discipline))
    assignee: Mapped[Assignee] = mapped_column(_enum(Assignee), default=Assignee.TEAM)
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[ActivityStatus] = mapped_column(
        _enum(ActivityStatus), default=ActivityStatus.PLANNED
    )
    due_on: Mapped[date | None]
    concern_id: Mapped[int | None] = mapped_column(ForeignKey("concerns.id", ondelete="SET NULL"))


class PlanRevision(db.Model):
    """One change to a plan: who changed what, when. The plan's version history."""

    __tablename__ = "plan_revisions"
    __table_args__ = (UniqueConstraint("patient_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    version: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_relation: Mapped[str] = mapped_column(String(20))
    item_type: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(20))  # added, changed, retired, agreed
    summary: Mapped[str] = mapped_column(String(300))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sensitive: Mapped[bool] = mapped_column(default=False)


class PlanReview(db.Model):
    """The plan version a reader last looked at, for "what changed since you last looked"."""

    __tablename__ = "plan_reviews"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    seen_version: Mapped[int] = mapped_column(default=0)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_care_team_members_patient_active", CareTeamMember.patient_id, CareTeamMember.ended_at)
