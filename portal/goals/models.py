"""Wellness goals: the patient's own and those the team proposes."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.careplan.models import PlanItemMixin, _enum
from portal.db import utcnow
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
    # The inbox: when the patient's oldest entry or message still without a team
    # reply arrived (None: nothing waiting). Maintained by the goal services so
    # the clinicians' inbox is one indexed query whatever the panel size.
    awaiting_reply_since: Mapped[datetime | None]  # indexed by patient, below
    last_team_reply_at: Mapped[datetime | None]
    last_message_id: Mapped[int | None]  # the newest message, for unread counts without a join

    @property
    def is_proposal(self) -> bool:
        return self.status is GoalStatus.PROPOSED


class ProgressEntry(db.Model):
    """One logged day of progress on a goal: a value and/or done, a note, a feeling."""

    __tablename__ = "progress_entries"
    __table_args__ = (
        # The client's idempotency key: the same entry sent twice is stored once.
        UniqueConstraint("patient_id", "idempotency_key"),
        CheckConstraint("feeling IS NULL OR (feeling >= 1 AND feeling <= 5)", name="feeling"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    entry_date: Mapped[date]  # the day it is about, in the patient's time zone
    value: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    done: Mapped[bool | None]
    note: Mapped[str] = mapped_column(Text, default="")
    feeling: Mapped[int | None]  # how I feel, 1 (bad) to 5 (great)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the request as first sent: a replay with another body is a conflict.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]  # soft delete: the row stays for the record

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class GoalDayTotal(db.Model):
    """A goal's day added up: kept by the database's triggers (portal/goals/day_totals.py)."""

    __tablename__ = "goal_day_totals"

    goal_id: Mapped[int] = mapped_column(
        ForeignKey("goals.id", ondelete="CASCADE"), primary_key=True
    )
    entry_date: Mapped[date] = mapped_column(primary_key=True)
    total: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=0)  # of the values
    valued: Mapped[int] = mapped_column(default=0)  # live entries with a value
    done: Mapped[int] = mapped_column(default=0)  # live entries marked done
    entries: Mapped[int] = mapped_column(default=0)  # live entries


class ProgressEntryRevision(db.Model):
    """An entry as it was before a change or deletion: the trail behind each edit."""

    __tablename__ = "progress_entry_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("progress_entries.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))  # changed, deleted
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entry_date: Mapped[date]
    value: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    done: Mapped[bool | None]
    note: Mapped[str] = mapped_column(Text, default="")
    feeling: Mapped[int | None]


class GoalMessage(db.Model):
    """One message in a goal's thread, from the patient or a member of their care team."""

    __tablename__ = "goal_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Who wrote it, as shown then: kept so the thread reads the same after a team change.
    author_name: Mapped[str] = mapped_column(String(120))
    author_role: Mapped[str] = mapped_column(String(120))  # "Primary care physician", "Patient"
    from_team: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GoalRead(db.Model):
    """How far one reader has read one goal's thread (per-reader unread marks)."""

    __tablename__ = "goal_reads"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    goal_id: Mapped[int] = mapped_column(
        ForeignKey("goals.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_message_id: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


# A goal's entries, live or not, in day order: whether a goal has any entry (its
# measure is then fixed), and a goal's cascade. It covered the daily sums until
# the database kept them added up (GoalDayTotal); dropping it would save an
# index write per entry, about 10 us of a 2 ms POST in benchmarks/ here.
Index(
    "ix_progress_entries_goal_days",
    ProgressEntry.goal_id,
    ProgressEntry.entry_date,
    ProgressEntry.deleted_at,
    ProgressEntry.value,
    ProgressEntry.done,
)
# A goal's newest live entry (the inbox's preview), read as one index entry: the
# index above orders a day's entries by value, not id, so finding the newest meant
# sorting the whole newest day (7,000 entries after a busy day: 3.4 ms a page).
_LIVE = ProgressEntry.deleted_at.is_(None)
Index(
    "ix_progress_entries_goal_newest",
    ProgressEntry.goal_id,
    ProgressEntry.entry_date,
    ProgressEntry.id,
    sqlite_where=_LIVE,
    postgresql_where=_LIVE,
)
Index("ix_goal_messages_goal", GoalMessage.goal_id, GoalMessage.id)
Index("ix_goal_messages_patient_team", GoalMessage.patient_id, GoalMessage.from_team)
# The inbox starts from a clinician's panel and reads each patient's waiting
# goals here; partial, so goals nobody is waiting on cost the index nothing.
_WAITING = Goal.awaiting_reply_since.is_not(None)
Index(
    "ix_goals_patient_waiting",
    Goal.patient_id,
    Goal.awaiting_reply_since,
    sqlite_where=_WAITING,
    postgresql_where=_WAITING,
)
