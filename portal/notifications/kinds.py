"""Every kind of notice, in one place: its category, words, urgency, topic and lifetime.

To add a kind of notice, add one `Kind(...)` to `KINDS` below (and a category to
`CATEGORIES` if none fits), then call
`notifications.enqueue("your_kind", user_ids, url=..., patient_id=...)` from the
service that causes it, in the same transaction. Nothing else changes: the
settings page lists the categories, the deliverer reads the rest from here.

The words are fixed text: a notice never carries a name, a goal, a value or
any other health information. The person reads what happened after signing in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Audiences are UserKind values (a StrEnum), spelled out so this module imports nothing.
PATIENT, CLINICIAN, CAREGIVER = "patient", "clinician", "caregiver"
URGENCIES = ("very-low", "low", "normal", "high")  # RFC 8030 §5.3
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 §5.4: at most 32 base64url characters


@dataclass(frozen=True)
class Category:
    """A group of notices a user turns on or off together on the settings page."""

    name: str
    label: str
    hint: str
    audience: frozenset[str]  # UserKind values


@dataclass(frozen=True)
class Kind:
    """One kind of notice. `ttl=None` uses the PUSH_TTL_SECONDS setting."""

    name: str
    category: str
    title: str
    body: str
    urgency: str = "normal"
    topic: str = ""  # notices with the same topic replace each other on the device
    ttl: int | None = None

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"kind {self.name}: unknown category {self.category!r}")
        if self.urgency not in URGENCIES:
            raise ValueError(f"kind {self.name}: urgency must be one of {URGENCIES}")
        if not _TOPIC.fullmatch(self.topic):
            raise ValueError(f"kind {self.name}: topic must be 1-32 base64url characters")
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError(f"kind {self.name}: a TTL of 0 drops notices for offline devices")


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in [
        Category(
            "replies",
            "Replies from your care team",
            "When someone on the care team replies to a goal or a message.",
            frozenset({PATIENT, CAREGIVER}),
        ),
        Category(
            "plan",
            "Changes to the care plan",
            "When the care team changes the plan.",
            frozenset({PATIENT, CAREGIVER}),
        ),
        Category(
            "reminders",
            "Daily goal reminder",
            "One reminder a day, at the time you choose below.",
            frozenset({PATIENT}),
        ),
        Category(
            "caregiving",
            "People who help",
            "When someone accepts, changes or ends access to a patient's information.",
            frozenset({PATIENT, CAREGIVER}),
        ),
        Category(
            "activity",
            "Patient activity",
            "When a patient on your panel logs progress or writes to the team. "
            "At most one notice per patient each hour.",
            frozenset({CLINICIAN}),
        ),
        Category(
            "decisions",
            "Decisions with your care team",
            "When a decision is opened with you or its date to decide by is near; "
            "for the care team, also when a patient is not ready to decide.",
            frozenset({PATIENT, CAREGIVER, CLINICIAN}),
        ),
    ]
}

KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind(
            "goal_reply",
            "replies",
            "New reply from your care team",
            "Sign in to CareCircle to read it.",
            urgency="normal",
            topic="goal-reply",
        ),
        Kind(
            "patient_activity",
            "activity",
            "New patient activity",
            "A patient on your panel has new updates. Sign in to see them.",
            urgency="low",
            topic="patient-activity",
        ),
        Kind(
            "goal_reminder",
            "reminders",
            "Time to check in",
            "Open CareCircle to log today's progress.",
            urgency="normal",
            topic="goal-reminder",
            ttl=6 * 3600,  # a reminder that arrives the next day is noise
        ),
        Kind(
            "plan_changed",
            "plan",
            "Your care plan was updated",
            "Sign in to CareCircle to see what changed.",
            urgency="normal",
            topic="plan-changed",
        ),
        # Decisions (portal/decisions): never the question or the options, only that there is one.
        Kind(
            "decision_opened",
            "decisions",
            "A decision to make with your care team",
            "Sign in to CareCircle to see the choices.",
            topic="decision-opened",
        ),
        Kind(
            "decision_not_ready",
            "decisions",
            "A patient is not ready to decide",
            "Sign in to CareCircle to see who may need more support.",
            topic="decision-not-ready",
        ),
        Kind(
            "decision_due",
            "decisions",
            "A decision is due soon",
            "Sign in to CareCircle to see it.",
            topic="decision-due",
        ),
        Kind(
            "decision_reply",
            "replies",
            "New answer from your care team",
            "Sign in to CareCircle to read it.",
            topic="decision-reply",
        ),
        # Caregiving (portal/caregivers): names of people only, in the mail; none here.
        Kind(
            "caregiver_joined",
            "caregiving",
            "Someone you invited has joined",
            "Sign in to CareCircle to see who helps you.",
            topic="caregiver-joined",
        ),
        Kind(
            "caregiving_changed",
            "caregiving",
            "Your access in CareCircle changed",
            "Sign in to CareCircle to see what you can do now.",
            topic="caregiving-changed",
        ),
        Kind(
            "caregiving_ended",
            "caregiving",
            "Access in CareCircle has ended",
            "Sign in to CareCircle to see who can help.",
            topic="caregiving-ended",
        ),
        Kind(
            "caregiver_grant_ending",
            "caregiving",
            "Access you gave ends soon",
            "Sign in to CareCircle to renew it.",
            urgency="low",
            topic="caregiver-ending",
        ),
    ]
}


def kind(name: str) -> Kind:
    """The registered kind called `name` (ValueError for an unknown one)."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown notification kind {name!r}; add it to KINDS") from None


def categories_for(user_kind: str) -> list[Category]:
    """The categories a kind of user can turn on or off, in display order."""
    return [c for c in CATEGORIES.values() if user_kind in c.audience]
