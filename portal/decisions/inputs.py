"""Checking what people send about decisions, from forms or JSON alike.

Every problem is collected per field (`options.1.title` for an option's
field) and raised at once as `Invalid`: nothing is written until all are fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from portal.careplan.models import Sensitivity
from portal.goals.inputs import FALSE, TRUE, Invalid

QUESTION_MAX = 200
TEXT_MAX = 2000
WHY_MAX = 1000
MESSAGE_MAX = 2000
MIN_OPTIONS, MAX_OPTIONS = 2, 6
FORM_SLOTS = 4  # the HTML form's fixed option slots (works without JavaScript)
DECIDE_BY_MAX = timedelta(days=366)
OPTION_FIELDS = ("title", "involves", "benefits", "risks", "burdens")
SURE_ITEMS = ("sure", "understand", "risk_benefit", "encouragement")
COLLABORATE_ITEMS = ("understand", "listen", "include")
PLAN_LINKS = ("", "activity", "goal")

__all__ = ["Invalid"]


@dataclass(frozen=True)
class OptionValues:
    title: str
    involves: str
    benefits: str
    risks: str
    burdens: str


@dataclass(frozen=True)
class DecisionValues:
    question: str
    context: str
    decide_by: date | None
    sensitivity: Sensitivity | None
    options: list[OptionValues]


def _text(raw: Any) -> str:
    return raw.strip() if isinstance(raw, str) else ""


def _day(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("bad date") from None


def _limit(errors: dict[str, str], name: str, text: str, limit: int) -> None:
    if len(text) > limit:
        errors[name] = f"Keep this under {limit} characters."


def yes_no(raw: Any) -> bool | None:
    """True for yes, False for no, None when neither was chosen."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in TRUE:
        return True
    if isinstance(raw, str) and raw.strip().lower() in FALSE:
        return False
    return None


def decision(data: Mapping[str, Any], today: date) -> DecisionValues:
    """A new decision: a question, a decide-by date and two or more options."""
    errors: dict[str, str] = {}
    question = _text(data.get("question"))
    if not question:
        errors["question"] = "Write the question to decide, like “How do we bring your A1c down?”"
    _limit(errors, "question", question, QUESTION_MAX)
    context = _text(data.get("context"))
    _limit(errors, "context", context, TEXT_MAX)
    decide_by = None
    try:
        decide_by = _day(data.get("decide_by"))
    except ValueError:
        errors["decide_by"] = "Enter the date like 2026-12-31."
    if decide_by is None and "decide_by" not in errors:
        errors["decide_by"] = "Enter a date to decide by."
    elif decide_by is not None and not today <= decide_by <= today + DECIDE_BY_MAX:
        errors["decide_by"] = "Choose a date from today to a year from now."
    sensitivity = None
    raw = _text(data.get("sensitivity"))
    if raw:
        try:
            sensitivity = Sensitivity(raw)
        except ValueError:
            errors["sensitivity"] = "Choose one of the kinds listed."
    options = _options(data.get("options"), errors)
    if errors:
        raise Invalid(errors)
    return DecisionValues(question, context, decide_by, sensitivity, options)


def _options(raw: Any, errors: dict[str, str]) -> list[OptionValues]:
    """The options filled in (empty slots are ignored); at least two."""
    if not isinstance(raw, list):
        raw = []
    options: list[OptionValues] = []
    for index, item in enumerate(raw[: MAX_OPTIONS + 4]):
        if not isinstance(item, Mapping):
            continue
        values = {name: _text(item.get(name)) for name in OPTION_FIELDS}
        if not any(values.values()):
            continue  # an empty slot of the form
        if not values["title"]:
            errors[f"options.{index}.title"] = "Give this option a short name."
        _limit(errors, f"options.{index}.title", values["title"], QUESTION_MAX)
        for name in OPTION_FIELDS[1:]:
            _limit(errors, f"options.{index}.{name}", values[name], TEXT_MAX)
        options.append(OptionValues(**values))
    if len(options) < MIN_OPTIONS:
        errors["options"] = "Give at least two options, so there is something to choose between."
    elif len(options) > MAX_OPTIONS:
        errors["options"] = f"Give at most {MAX_OPTIONS} options."
    return options


def lean(data: Mapping[str, Any], option_ids: list[int]) -> tuple[int | None, str]:
    """The option the patient leans towards (None: not sure yet) and why."""
    errors: dict[str, str] = {}
    raw = data.get("option_id")
    option_id: int | None = None
    if raw not in (None, "", "unsure"):
        try:
            option_id = int(raw)
        except (TypeError, ValueError):
            option_id = -1
        if isinstance(raw, bool) or option_id not in option_ids:
            errors["option_id"] = "Choose one of the options, or “I'm not sure yet”."
    why = _text(data.get("why"))
    _limit(errors, "why", why, WHY_MAX)
    if errors:
        raise Invalid(errors)
    return option_id, why


SURE_MISSING = "Answer yes or no."


def sure(data: Mapping[str, Any]) -> dict[str, bool]:
    """The four SURE answers, each yes or no."""
    answers = {name: yes_no(data.get(name)) for name in SURE_ITEMS}
    errors = {name: SURE_MISSING for name, value in answers.items() if value is None}
    if errors:
        raise Invalid(errors)
    return answers  # type: ignore[return-value]


def _score(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= 9 else None
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) == 1:
        return int(raw.strip())
    return None


def collaborate(data: Mapping[str, Any]) -> dict[str, int]:
    """The three CollaboRATE answers, each a whole number from 0 to 9."""
    answers = {name: _score(data.get(name)) for name in COLLABORATE_ITEMS}
    errors = {
        name: "Choose a number from 0 (no effort) to 9 (every effort)."
        for name, value in answers.items()
        if value is None
    }
    if errors:
        raise Invalid(errors)
    return answers  # type: ignore[return-value]


def message(raw: Any) -> str:
    """A question or answer in a decision's thread."""
    text = _text(raw)
    if not text:
        raise Invalid({"body": "Write your question or answer first."})
    if len(text) > MESSAGE_MAX:
        raise Invalid({"body": f"Keep this under {MESSAGE_MAX} characters."})
    return text


@dataclass(frozen=True)
class OutcomeValues:
    option_id: int
    participant_ids: list[int]
    revisit_on: date | None
    note: str
    plan_link: str  # "", "activity" or "goal": add the chosen option to the plan


def outcome(
    data: Mapping[str, Any], option_ids: list[int], people: list[int], today: date
) -> OutcomeValues:
    """The team's record of a decision: the option chosen, who took part, when to revisit."""
    errors: dict[str, str] = {}
    try:
        option_id = int(data.get("option_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        option_id = -1
    if option_id not in option_ids:
        errors["option_id"] = "Choose the option that was decided."
    raw_people = data.get("participants") or []
    if isinstance(raw_people, str | int):
        raw_people = [raw_people]
    chosen: list[int] = []
    for raw in raw_people if isinstance(raw_people, list) else []:
        try:
            person = int(raw)
        except (TypeError, ValueError):
            person = -1
        if person not in people:
            errors["participants"] = "Choose people from the list."
        elif person not in chosen:
            chosen.append(person)
    if not chosen and "participants" not in errors:
        errors["participants"] = "Tick who took part in the decision."
    revisit_on = None
    try:
        revisit_on = _day(data.get("revisit_on"))
    except ValueError:
        errors["revisit_on"] = "Enter the date like 2027-03-31."
    if revisit_on is not None and revisit_on <= today:
        errors["revisit_on"] = "Choose a date after today."
    note = _text(data.get("note"))
    _limit(errors, "note", note, TEXT_MAX)
    plan_link = _text(data.get("plan_link"))
    if plan_link not in PLAN_LINKS:
        errors["plan_link"] = "Choose what to add to the plan."
    if errors:
        raise Invalid(errors)
    return OutcomeValues(option_id, chosen, revisit_on, note, plan_link)
