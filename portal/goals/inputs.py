"""Checking what people send: goal fields and progress entries, from forms or JSON alike.

Both the HTML views and the JSON API pass the raw values here, so a bad value
gets the same plain message everywhere. Every problem is collected per field:
nothing is written until all of them are fixed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from portal.goals.measures import MEASURES, Measure, measure_for, number
from portal.goals.models import Frequency, GoalCategory
from portal.when import format_day_month

BACKDATE_DAYS = 30
NOTE_MAX = 1000
MESSAGE_MAX = 2000
TITLE_MAX = 200
WHY_MAX = 2000
FEELING_MIN, FEELING_MAX = 1, 5
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TRUE = {"1", "true", "yes", "on", "done", "y"}
FALSE = {"0", "false", "no", "off", "not_done", "n"}


class Invalid(ValueError):
    """Input that cannot be stored; `fields` holds one message per field, for people."""

    def __init__(self, fields: dict[str, str], message: str = "Check the answers shown.") -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


@dataclass(frozen=True)
class EntryValues:
    entry_date: date
    value: Decimal | None
    done: bool | None
    note: str
    feeling: int | None


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _decimal(raw: Any) -> Decimal | None:
    """A finite number from a form string or a JSON number; None when it is not one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip().replace(" ", "")
    if not text.isascii():
        # Decimal() reads any script's digits ("٣٠", full-width ones); some look like
        # other digits (the Bengali four looks like an 8): a health value takes 0-9 only.
        return None
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # 7,5 as many people write it
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    # 1e999999999 is finite but overflows Decimal's context later (a 500): not a number here.
    return value if value.is_finite() and abs(value.adjusted()) < 10_000 else None


def _noun(measure: Measure) -> str:
    """'a number of minutes' from 'a number of minutes, like 20'."""
    return measure.example.split(", like")[0]


def _bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in TRUE:
        return True
    if isinstance(raw, str) and raw.strip().lower() in FALSE:
        return False
    raise ValueError(raw)


def yes(raw: Any) -> bool:
    """A checkbox or JSON flag: true only when it clearly says so."""
    return raw is True or (isinstance(raw, str) and raw.strip().lower() in TRUE)


def check_value(measure: Measure, raw: Any, *, limit: Decimal | None = None) -> Decimal:
    """A value for `measure`, or ValueError with the message to show."""
    value = _decimal(raw)
    if value is None:
        raise ValueError(f"Enter {measure.example}")
    if measure.whole and value != value.to_integral_value():
        if "a number of" in measure.example:
            raise ValueError(f"Enter {measure.example.replace('a number of', 'a whole number of')}")
        raise ValueError(f"Enter a whole number: {measure.example}")
    maximum = limit if limit is not None else measure.maximum
    if value < measure.minimum or value > maximum:
        if measure.key == "mood":
            raise ValueError("Enter a number from 1 to 5")
        raise ValueError(
            f"Enter {_noun(measure)} between {number(measure.minimum)} and {number(maximum)}"
        )
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _date(raw: Any, today: date, errors: dict[str, str]) -> date:
    if _blank(raw):
        return today
    try:
        day = date.fromisoformat(str(raw).strip())
    except ValueError:
        errors["entry_date"] = f"Enter the date like {today.isoformat()}"
        return today
    if day > today:
        errors["entry_date"] = (
            "You can't log a day that hasn't happened yet. Choose today or before"
        )
    elif day < today - timedelta(days=BACKDATE_DAYS):
        earliest = today - timedelta(days=BACKDATE_DAYS)
        errors["entry_date"] = (
            f"You can log up to {BACKDATE_DAYS} days back. Choose a date from "
            f"{format_day_month(earliest, 'long')} onwards"
        )
    return day


def _text(raw: Any, name: str, maximum: int, errors: dict[str, str], label: str) -> str:
    if _blank(raw):
        return ""
    if not isinstance(raw, str):
        errors[name] = f"Write the {label} as text"
        return ""
    text = raw.replace("\r\n", "\n").strip()
    if len(text) > maximum:
        errors[name] = f"Keep the {label} under {maximum} characters (it has {len(text)})"
    return text


def _feeling(raw: Any, errors: dict[str, str]) -> int | None:
    if _blank(raw):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        errors["feeling"] = f"Choose how you feel from {FEELING_MIN} to {FEELING_MAX}"
        return None
    text = str(raw).strip()
    # isdigit() also admits "²", which int() refuses: only ASCII digits are a feeling.
    if not (text.isascii() and text.isdigit()) or not FEELING_MIN <= int(text) <= FEELING_MAX:
        errors["feeling"] = f"Choose how you feel from {FEELING_MIN} to {FEELING_MAX}"
        return None
    return int(text)


def entry(measure: Measure, data: Mapping[str, Any], today: date) -> EntryValues:
    """Check a progress entry for a goal measured by `measure`; raises Invalid."""
    errors: dict[str, str] = {}
    value = None
    done = None
    raw_value, raw_done = data.get("value"), data.get("done")
    if not _blank(raw_done):
        try:
            done = _bool(raw_done)
        except ValueError:
            errors["done"] = "Choose done or not done"
    if measure.numeric:
        if not _blank(raw_value):
            try:
                value = check_value(measure, raw_value)
            except ValueError as error:
                errors["value"] = str(error)
        elif done is None and "done" not in errors:
            errors["value"] = f"Enter {measure.example}"
    else:
        if not _blank(raw_value):
            errors["value"] = "This goal is logged as done or not done, not as a number"
        elif done is None and "done" not in errors:
            errors["done"] = "Choose done or not done"
    entry_date = _date(data.get("entry_date"), today, errors)
    note = _text(data.get("note"), "note", NOTE_MAX, errors, "note")
    feeling = _feeling(data.get("feeling"), errors)
    if errors:
        raise Invalid(errors)
    return EntryValues(entry_date, value, done, note, feeling)


def idempotency_key(raw: Any) -> str:
    """A client's idempotency key: a UUID or 8 to 64 letters, digits, '-' or '_'."""
    if not isinstance(raw, str) or not IDEMPOTENCY_KEY.match(raw.strip()):
        raise Invalid(
            {"idempotency_key": "Send a new random key (a UUID) with each entry"},
            "Each entry needs an idempotency key: a UUID or 8 to 64 letters, digits, - or _.",
        )
    return raw.strip()


def message(raw: Any) -> str:
    errors: dict[str, str] = {}
    body = _text(raw, "body", MESSAGE_MAX, errors, "message")
    if not body and not errors:
        errors["body"] = "Write a message"
    if errors:
        raise Invalid(errors)
    return body


def _choice(raw: Any, enum_cls, default, name: str, message: str, errors: dict[str, str]):
    if _blank(raw):
        return default
    try:
        return enum_cls(str(raw).strip())
    except ValueError:
        errors[name] = message
        return default


def goal(data: Mapping[str, Any], today: date, *, measure_locked: str | None = None) -> dict:
    """Check a goal in the patient's (or clinician's) words; raises Invalid.

    `measure_locked` is the current measure of a goal that already has entries:
    its entries would not fit another measure, so it cannot change.
    """
    errors: dict[str, str] = {}
    title = _text(data.get("title"), "title", TITLE_MAX, errors, "goal")
    if not title and "title" not in errors:
        errors["title"] = "Write your goal in a few words, like Walk 20 minutes a day"
    why = _text(data.get("why"), "why", WHY_MAX, errors, "answer")
    category = _choice(
        data.get("category"),
        GoalCategory,
        GoalCategory.OTHER,
        "category",
        "Choose what kind of goal this is",
        errors,
    )
    key = data.get("measure")
    key = "done" if _blank(key) else str(key).strip()
    if key not in MEASURES:
        errors["measure"] = "Choose how you will measure it"
        key = "done"
    if measure_locked is not None and key != measure_locked:
        errors["measure"] = (
            "This goal already has progress logged, so how it is measured can't change. "
            "Start a new goal instead"
        )
    frequency = _choice(
        data.get("frequency"),
        Frequency,
        Frequency.DAILY,
        "frequency",
        "Choose daily or weekly",
        errors,
    )
    target = _target(measure_for(key), frequency, data.get("target_value"), errors)
    due_on = None
    if not _blank(data.get("due_on")):
        try:
            due_on = date.fromisoformat(str(data["due_on"]).strip())
        except ValueError:
            errors["due_on"] = f"Enter the date like {today.isoformat()}"
        else:
            if due_on < today:
                errors["due_on"] = "Choose a date from today onwards"
    if errors:
        raise Invalid(errors)
    return {
        "title": title,
        "why": why,
        "category": category,
        "measure": key,
        "target_value": target,
        "frequency": frequency,
        "due_on": due_on,
    }


def _target(measure: Measure, frequency: Frequency, raw: Any, errors: dict[str, str]):
    if _blank(raw):
        return None
    if not measure.numeric:
        if frequency is Frequency.DAILY:
            return None  # a daily done goal's target is simply "done"
        value = _decimal(raw)
        if value is None or value != value.to_integral_value() or not 1 <= value <= 7:
            errors["target_value"] = "Enter how many days a week, from 1 to 7"
            return None
        return value
    limit = measure.maximum * 7 if frequency is Frequency.WEEKLY else measure.maximum
    try:
        return check_value(measure, raw, limit=limit)
    except ValueError:
        unit = f" {measure.unit}" if measure.unit else ""
        errors["target_value"] = (
            f"Enter a target between {number(measure.minimum)} and {number(limit)}{unit}"
        )
        return None
