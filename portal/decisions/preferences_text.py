"""Preferences in plain words: each value, a one-line summary for the team, each change."""

from __future__ import annotations

from typing import Any

from portal.decisions.preferences_models import (
    Channel,
    Detail,
    Involvement,
    Priority,
    RiskFormat,
)

FIELD_LABELS = {
    "what_matters": "What matters, in their words",
    "priorities": "What matters most",
    "priority_other": "Something else that matters",
    "involvement": "How involved in decisions",
    "detail": "How much detail",
    "risk_format": "Risks explained with",
    "language": "Preferred language",
    "interpreter": "Interpreter",
    "channel": "Best way to get in touch",
    "contact_times": "Best times",
    "people": "Who they want involved",
}
NOT_SAID = "not said"


def value_text(field: str, value: Any) -> str:
    """One stored value as words ("not said" when empty)."""
    if value in (None, "", []):
        return NOT_SAID
    if field == "priorities":
        return ", ".join(f"{n}. {Priority(p).label}" for n, p in enumerate(value, 1))
    if field == "involvement":
        return Involvement(value).statement
    if field == "detail":
        return Detail(value).label
    if field == "risk_format":
        return RiskFormat(value).label
    if field == "channel":
        return Channel(value).label
    if field == "interpreter":
        return "Needs an interpreter" if value else "No interpreter needed"
    if field == "people":
        return ", ".join(person_text(p) for p in value)
    return str(value)


def person_text(person: dict[str, str]) -> str:
    return (
        f"{person['name']} ({person['relationship']})" if person["relationship"] else person["name"]
    )


def change_lines(changes: dict[str, list[Any]]) -> list[str]:
    """A history row's changes, one sentence each, in the form's order."""
    return [
        f"{FIELD_LABELS[field]}: {value_text(field, after)} (was: {value_text(field, before)})"
        for field, (before, after) in sorted(
            changes.items(), key=lambda item: list(FIELD_LABELS).index(item[0])
        )
        if field in FIELD_LABELS
    ]


def priority_texts(priorities: list[str], other: str) -> list[str]:
    """The ranked priorities, "something else" in the patient's own words."""
    return [other if p == Priority.OTHER and other else Priority(p).label for p in priorities]


def one_line(prefs: Any) -> str:
    """What helps a reply, on one line: "Wants to decide together · words not numbers"."""
    parts = []
    if prefs.involvement:
        parts.append(Involvement(prefs.involvement).summary)
    if prefs.risk_format:
        parts.append(RiskFormat(prefs.risk_format).summary)
    if prefs.detail == Detail.BRIEF:
        parts.append("main points only")
    if prefs.interpreter:
        language = f"{prefs.language} " if prefs.language else ""
        parts.append(f"needs a {language}interpreter")
    elif prefs.language and prefs.language.lower() != "english":
        parts.append(f"prefers {prefs.language}")
    if prefs.priorities:
        top = Priority(prefs.priorities[0])
        words = prefs.priority_other if top is Priority.OTHER else top.label.lower()
        parts.append(f"most important: {words}")
    return " · ".join(parts)
