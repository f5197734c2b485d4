"""Checking preferences as people send them, from the pages' forms or the JSON API alike.

Every problem is collected per field, with a message a person understands;
nothing is written until all of them are fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portal.decisions.preferences_models import (
    Channel,
    Detail,
    Involvement,
    Priority,
    RiskFormat,
)
from portal.goals.inputs import Invalid

WHAT_MATTERS_MAX = 2000
OTHER_MAX = 200
LANGUAGE_MAX = 80
TIMES_MAX = 200
NAME_MAX = 120
RELATIONSHIP_MAX = 80
PRIORITIES_MAX = 3
PEOPLE_MAX = 5  # "someone else" rows, named in words
CAREGIVERS_MAX = 20  # caregivers chosen by their grant (bounded by the patient's grants)

# Each page of the form (and step of the first-time questions) changes these fields.
SECTIONS: dict[str, tuple[str, ...]] = {
    "matters": ("what_matters", "priorities", "priority_other"),
    "involvement": ("involvement",),
    "information": ("detail", "risk_format", "language", "interpreter", "channel", "contact_times"),
    "people": ("people",),
}
FIELDS: tuple[str, ...] = tuple(f for fields in SECTIONS.values() for f in fields)
_CHOICES = {
    "involvement": Involvement,
    "detail": Detail,
    "risk_format": RiskFormat,
    "channel": Channel,
}


def clean(raw: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The stored values of `fields` from `raw`; raises Invalid naming every problem."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in fields:
        try:
            values[name] = _CHECKS[name](raw.get(name))
        except ValueError as error:
            problems[name] = str(error)
    if "priority_other" in values:
        ranked = raw.get("priorities")
        other = isinstance(ranked, list) and Priority.OTHER.value in ranked
        if other and not values["priority_other"]:
            problems["priority_other"] = "Write what else matters to you, or choose from the list"
        if not other:
            values["priority_other"] = ""  # words for a choice no longer made
    if problems:
        raise Invalid(problems)
    return values


def _text(limit: int, what: str):
    def check(raw: Any) -> str:
        if raw is None:
            return ""
        if not isinstance(raw, str):
            raise ValueError(f"Write {what} as text")
        text = raw.strip()
        if len(text) > limit:
            raise ValueError(f"Keep {what} to {limit} characters or fewer")
        if "\x00" in text:
            raise ValueError(f"Write {what} as plain text")
        return text

    return check


def _choice(name: str):
    kind = _CHOICES[name]

    def check(raw: Any) -> str | None:
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str) or raw not in {c.value for c in kind}:
            raise ValueError("Choose one of the answers shown")
        return raw

    return check


def _priorities(raw: Any) -> list[str]:
    """Ranked, without blanks or repeats: the first is what matters most."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ValueError("Choose what matters most from the list")
    chosen = [p for p in raw if p]
    if any(p not in {c.value for c in Priority} for p in chosen):
        raise ValueError("Choose what matters most from the list")
    if len(set(chosen)) != len(chosen):
        raise ValueError("Choose each thing only once")
    if len(chosen) > PRIORITIES_MAX:
        raise ValueError(f"Choose up to {PRIORITIES_MAX} things")
    return chosen


def _interpreter(raw: Any) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if raw in ("yes", "no"):
        return raw == "yes"
    raise ValueError("Answer yes or no")


_name = _text(NAME_MAX, "their name")
_relationship = _text(RELATIONSHIP_MAX, "who they are to you")


def _people(raw: Any) -> list[dict[str, Any]]:
    """Caregivers as `{"grant_id": n}` (the service checks the grant), others by name."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ValueError("List each person with their name and who they are to you")
    people: list[dict[str, Any]] = []
    grants: set[int] = set()
    for person in raw:
        grant_id = person.get("grant_id")
        if grant_id not in (None, ""):
            grant_id = _grant_id(grant_id)
            if grant_id not in grants:
                grants.add(grant_id)
                people.append({"grant_id": grant_id})
            continue
        name, relationship = _name(person.get("name")), _relationship(person.get("relationship"))
        if not name and relationship:
            raise ValueError("Write the name of each person you want involved")
        if name:
            people.append({"name": name, "relationship": relationship, "grant_id": None})
    if len(people) - len(grants) > PEOPLE_MAX:
        raise ValueError(f"List up to {PEOPLE_MAX} other people")
    if len(grants) > CAREGIVERS_MAX:
        raise ValueError("Choose from the people who help you")
    return people


def _grant_id(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("Choose from the people who help you")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError("Choose from the people who help you") from None
    if value <= 0:
        raise ValueError("Choose from the people who help you")
    return value


_CHECKS = {
    "what_matters": _text(WHAT_MATTERS_MAX, "what matters to you"),
    "priorities": _priorities,
    "priority_other": _text(OTHER_MAX, "what else matters"),
    "involvement": _choice("involvement"),
    "detail": _choice("detail"),
    "risk_format": _choice("risk_format"),
    "language": _text(LANGUAGE_MAX, "the language"),
    "interpreter": _interpreter,
    "channel": _choice("channel"),
    "contact_times": _text(TIMES_MAX, "the best times"),
    "people": _people,
}


def from_form(form: Mapping[str, str], section: str) -> dict[str, Any]:
    """A page's form fields as the values `clean` reads (ranked selects, rows of people)."""
    raw: dict[str, Any] = {name: form.get(name) for name in SECTIONS[section]}
    if section == "matters":
        raw["priorities"] = [form.get(f"priority_{n}", "") for n in range(1, PRIORITIES_MAX + 1)]
    if section == "people":
        chosen = getattr(form, "getlist", lambda _name: [])("caregiver")
        raw["people"] = [{"grant_id": grant_id} for grant_id in chosen] + [
            {"name": form.get(f"name_{n}", ""), "relationship": form.get(f"relationship_{n}", "")}
            for n in range(PEOPLE_MAX)
        ]
    return raw
