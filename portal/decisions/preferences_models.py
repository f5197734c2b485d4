"""The patient's preferences for shared decision-making, their history, and who has seen them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.careplan.models import _enum
from portal.db import utcnow
from portal.extensions import db


class Priority(enum.StrEnum):
    """What matters most: the fixed list a patient ranks up to three from."""

    INDEPENDENCE = "independence"
    HOME = "home"
    FAMILY = "family"
    SYMPTOMS = "symptoms"
    AVOID_HOSPITAL = "avoid_hospital"
    JOB = "job"
    COST = "cost"
    FAITH = "faith"
    OTHER = "other"  # "something else", in the patient's own words

    @property
    def label(self) -> str:
        return PRIORITY_LABELS[self]


PRIORITY_LABELS = {
    Priority.INDEPENDENCE: "Staying independent",
    Priority.HOME: "Being at home",
    Priority.FAMILY: "Time with family",
    Priority.SYMPTOMS: "Managing pain or symptoms",
    Priority.AVOID_HOSPITAL: "Avoiding hospital stays",
    Priority.JOB: "Keeping my job",
    Priority.COST: "The cost of care",
    Priority.FAITH: "My faith or culture",
    Priority.OTHER: "Something else",
}


class Involvement(enum.StrEnum):
    """The Control Preferences Scale (Degner, Sloan and Venkatesh, 1997), A (active) to E."""

    ACTIVE = "active"
    ACTIVE_SHARED = "active_shared"
    SHARED = "shared"
    PASSIVE_SHARED = "passive_shared"
    PASSIVE = "passive"

    @property
    def statement(self) -> str:
        return CPS_STATEMENTS[self]

    @property
    def summary(self) -> str:
        return INVOLVEMENT_SUMMARIES[self]


# The scale's published statements (Degner et al., Can J Nurs Res 1997;29(3):21-43).
CPS_STATEMENTS = {
    Involvement.ACTIVE: (
        "I prefer to make the final selection about which treatment I will receive."
    ),
    Involvement.ACTIVE_SHARED: (
        "I prefer to make the final selection of my treatment after seriously considering "
        "my doctor's opinion."
    ),
    Involvement.SHARED: (
        "I prefer that my doctor and I share responsibility for deciding which treatment "
        "is best for me."
    ),
    Involvement.PASSIVE_SHARED: (
        "I prefer that my doctor makes the final decision about which treatment will be "
        "used, but seriously considers my opinion."
    ),
    Involvement.PASSIVE: "I prefer to leave all decisions regarding my treatment to my doctor.",
}
# How the care team reads it at a glance.
INVOLVEMENT_SUMMARIES = {
    Involvement.ACTIVE: "Wants to make the final decision",
    Involvement.ACTIVE_SHARED: "Wants to decide, after hearing the doctor's view",
    Involvement.SHARED: "Wants to decide together",
    Involvement.PASSIVE_SHARED: "Wants the doctor to decide, considering their view",
    Involvement.PASSIVE: "Wants the doctor to decide",
}


class Detail(enum.StrEnum):
    BRIEF = "brief"
    SOME = "some"
    FULL = "full"

    @property
    def label(self) -> str:
        return {
            "brief": "Just the main points",
            "some": "The main points and some detail",
            "full": "All the details",
        }[self.value]


class RiskFormat(enum.StrEnum):
    NUMBERS = "numbers"
    WORDS = "words"
    BOTH = "both"

    @property
    def label(self) -> str:
        return {
            "numbers": "Numbers, like “1 in 10 people”",
            "words": "Words, like “a small chance”",
            "both": "Both numbers and words",
        }[self.value]

    @property
    def summary(self) -> str:
        return {
            "numbers": "numbers for risks",
            "words": "words not numbers",
            "both": "numbers and words",
        }[self.value]


class Channel(enum.StrEnum):
    PORTAL = "portal"
    PHONE = "phone"
    TEXT = "text"
    EMAIL = "email"
    LETTER = "letter"

    @property
    def label(self) -> str:
        return {
            "portal": "A message in CareCircle",
            "phone": "A phone call",
            "text": "A text message",
            "email": "An email",
            "letter": "A letter",
        }[self.value]


class FlowState(enum.StrEnum):
    """Where the patient is with the first-time questions: asked until done or skipped."""

    SKIPPED = "skipped"
    DONE = "done"


class PatientPreferences(db.Model):
    """One row per patient: what matters to them and how they want to decide and be told.

    `version` counts changes; each change also writes a `PreferenceChange`.
    """

    __tablename__ = "patient_preferences"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(default=0)
    what_matters: Mapped[str] = mapped_column(Text, default="")
    priorities: Mapped[list[str]] = mapped_column(JSON, default=list)  # ranked, up to three
    priority_other: Mapped[str] = mapped_column(String(200), default="")
    involvement: Mapped[Involvement | None] = mapped_column(_enum(Involvement))
    detail: Mapped[Detail | None] = mapped_column(_enum(Detail))
    risk_format: Mapped[RiskFormat | None] = mapped_column(_enum(RiskFormat))
    language: Mapped[str] = mapped_column(String(80), default="")
    interpreter: Mapped[bool | None]
    channel: Mapped[Channel | None] = mapped_column(_enum(Channel))
    contact_times: Mapped[str] = mapped_column(String(200), default="")
    flow: Mapped[FlowState | None] = mapped_column(_enum(FlowState))
    updated_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_name: Mapped[str] = mapped_column(String(120), default="")

    # Each UPDATE says WHERE version = the one read: of two saves at once, one
    # fails (and is told to look again) instead of silently undoing the other.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class PreferencePerson(db.Model):
    """Someone the patient wants involved in decisions.

    Either one of the patient's caregivers, by their delegated-access grant
    (`caregiver_grant_id`; name and relationship copied from it when chosen,
    so the history and a revoked grant still read in words), or someone else,
    named in words. A deleted grant leaves the words (ON DELETE SET NULL).
    """

    __tablename__ = "preference_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    relationship: Mapped[str] = mapped_column(String(80), default="")
    caregiver_grant_id: Mapped[int | None] = mapped_column(
        ForeignKey("caregiver_grants.id", ondelete="SET NULL"), index=True
    )


class PreferenceChange(db.Model):
    """One change to the preferences: who, as what, when, each field before and after."""

    __tablename__ = "preference_changes"
    __table_args__ = (UniqueConstraint("patient_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    version: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_relation: Mapped[str] = mapped_column(String(20))
    # {field: [before, after]} in stored values; shown in words by preferences_text.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PreferenceReview(db.Model):
    """The preferences version a clinician last marked as seen ("updated since you last looked").

    Versioned with the patient's data: marking seen is rare and changes the kept plan page.
    """

    __tablename__ = "preference_reviews"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    seen_version: Mapped[int] = mapped_column(default=0)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
