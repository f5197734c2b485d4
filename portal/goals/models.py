"""Wellness goals: the patient's own and those the team proposes."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.careplan.models import PlanItemMixin, _enum
from portal.extensions import db


class GoalCategory(enum.StrEnum):
    PHYSICAL_ACTIVITY = "physical_activity"
    NUTRITION = "nutrition"
    SLEEP = "sleep"
    MOOD = "mood"
    MEDICATION = "medication"
    SOCIAL = "social"
    OTHER = "other"

    @property
    def label(self) -> str:
        return GOAL_CATEGORY_LABELS[self]


GOAL_CATEGORY_LABELS = {
    GoalCategory.PHYSICAL_ACTIVITY: "Physical activity",
    GoalCategory.NUTRITION: "Nutrition",
    GoalCategory.SLEEP: "Sleep",
    GoalCategory.MOOD: "Mood and mental health",
    GoalCategory.MEDICATION: "Medication",
    GoalCategory.SOCIAL: "Social connection",
    GoalCategory.OTHER: "Other",
}


class GoalStatus(enum.StrEnum):
    """FHIR Goal.lifecycleStatus, narrowed to what the portal uses."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Achievement(enum.StrEnum):
    """FHIR Goal.achievementStatus."""

    IN_PROGRESS = "in_progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no_change"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Frequency(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class Goal(PlanItemMixin, db.Model):
    """A goal on the shared plan, in the patient's words (FHIR Goal)."""

    __tablename__ = "goals"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[GoalCategory] = mapped_column(_enum(GoalCategory))
    why: Mapped[str] = mapped_column(Text, default="")  # why it matters to the patient
    # The measure: a key into portal.goals.measures (e.g. "steps", "minutes", "done").
    measure: Mapped[str] = mapped_column(String(20), default="done")
    target_value: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency), default=Frequency.DAILY)
    due_on: Mapped[date | None]
    status: Mapped[GoalStatus] = mapped_column(_enum(GoalStatus), default=GoalStatus.ACTIVE)
    achievement: Mapped[Achievement] = mapped_column(
        _enum(Achievement), default=Achievement.IN_PROGRESS
    )
    # FHIR Goal.expressedBy: who proposed it; and who agreed to it.
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    agreed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    agreed_at: Mapped[datetime | None]
    shared_with_team: Mapped[bool] = mapped_column(default=True)
    concern_id: Mapped[int | None] = mapped_column(ForeignKey("concerns.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")  # the team's note when status is set
