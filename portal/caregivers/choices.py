"""What a patient can let a caregiver do, in plain words, and the scopes each choice gives."""

from __future__ import annotations

from dataclasses import dataclass

from portal.access import Scope


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    hint: str
    scopes: frozenset[str]


CHOICES: tuple[Choice, ...] = (
    Choice(
        "plan",
        "See my care plan",
        "Your goals, activities, concerns and care team.",
        frozenset({Scope.PLAN_READ}),
    ),
    Choice(
        "goals",
        "See my goals and progress",
        "What you log and the charts of it.",
        frozenset({Scope.GOALS_READ}),
    ),
    Choice(
        "log",
        "Log progress for me",
        "For example, a walk you took together.",
        frozenset({Scope.GOALS_READ, Scope.GOALS_LOG}),
    ),
    Choice(
        "messages",
        "Message my care team",
        "Write to your team about your goals.",
        frozenset({Scope.MESSAGES}),
    ),
    Choice(
        "decisions",
        "See and change my decision preferences",
        "What matters to you and how involved you want to be.",
        frozenset({Scope.DECISIONS_READ, Scope.DECISIONS_WRITE}),
    ),
    Choice(
        "notify",
        "Get notifications about me",
        "For example, when your team replies.",
        frozenset({Scope.NOTIFY}),
    ),
)
BY_KEY = {choice.key: choice for choice in CHOICES}
SENSITIVE_LABEL = "See sensitive items"
SENSITIVE_HINT = (
    "Items about behavioral health, substance use or sexual health. "
    "They stay hidden unless you tick this."
)


def scopes_for(keys: list[str]) -> frozenset[str]:
    """The scopes the chosen keys give (unknown keys raise KeyError)."""
    scopes: frozenset[str] = frozenset()
    for key in keys:
        scopes |= BY_KEY[key].scopes
    return scopes


def keys_for(scopes: frozenset[str]) -> list[str]:
    """The choices a set of scopes shows as ticked (each choice whose scopes it all holds)."""
    return [c.key for c in CHOICES if c.scopes <= scopes]


def labels_for(scopes: frozenset[str], include_sensitive: bool) -> list[str]:
    """What a grant allows, as the sentences the patient chose."""
    labels = [BY_KEY[key].label for key in keys_for(scopes)]
    if include_sensitive:
        labels.append(SENSITIVE_LABEL)
    return labels
