"""Form fields shared by every feature.

Numbers, dates and times are typed with the digits 0 to 9 only. WTForms'
own fields read them with Python's `Decimal()` and `strptime`, which take any
script's digits (Arabic-Indic "٣٠", full-width ones); some look like other
digits (the Bengali four looks like an 8), so a health value typed that way
could be read as something else. The API
refuses them too (portal/api/goal_models.py), so both say the same. Forms use
these fields, never WTForms' DecimalField/DateField/TimeField directly
(tests/test_hostile_input.py checks).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from wtforms import DateField, DecimalField, IntegerField, SelectField, TimeField
from wtforms.validators import ValidationError

# A number as people type it: digits 0-9, one point or comma, no exponent.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
NUMBER_HINT = "Enter a number with the digits 0 to 9, like 20 or 7.5"
DATE_HINT = "Enter the date like 2026-12-31"
TIME_HINT = "Enter a time like 21:30"


def choice_value(value: Any) -> str:
    """Enums and None as the strings a <select> sends."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _typed(valuelist: list[Any]) -> str | None:
    """The text a field was sent, stripped; None when nothing was typed."""
    if not valuelist or not isinstance(valuelist[0], str) or not valuelist[0].strip():
        return None
    return valuelist[0].strip()


class Select(SelectField):
    """A select whose model values may be enums or None, with a message people understand."""

    def __init__(self, label: str | None = None, validators=None, **kwargs: Any) -> None:
        kwargs.setdefault("coerce", choice_value)
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and not str(valuelist[0]).isascii():
            # coerce=int would read "٣" as 3: no option's value is written that way.
            self.data = None
            raise ValueError(f"Choose one of the options for “{self.label.text}”")
        super().process_formdata(valuelist)

    def pre_validate(self, form) -> None:
        if not self.validate_choice or self.choices is None:
            return
        values = {choice_value(choice[0]) for choice in self.choices}
        if choice_value(self.data) not in values:
            raise ValidationError(f"Choose one of the options for “{self.label.text}”")


class Number(DecimalField):
    """A decimal typed with the digits 0-9 (a comma for the point is fine), of a size stored."""

    def __init__(self, label: str | None = None, validators=None, *, digits: int = 8, **kwargs):
        kwargs.setdefault("places", None)
        super().__init__(label, validators, **kwargs)
        self.digits = digits  # before the point: what the database column holds

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = _typed(valuelist)
        if text is None:
            self.data = None
            return
        if not _NUMBER.fullmatch(text):
            self.data = None
            raise ValueError(NUMBER_HINT)
        try:
            value = Decimal(text.replace(",", "."))
        except InvalidOperation:  # pragma: no cover (the pattern admits only numbers)
            self.data = None
            raise ValueError(NUMBER_HINT) from None
        if abs(value) >= Decimal(10) ** self.digits:
            self.data = None
            raise ValueError(f"Enter a number smaller than {10**self.digits:,}")
        self.data = value


class Integer(IntegerField):
    """A whole number typed with the digits 0-9 (Python's int() would read "٣٠" as 30)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = _typed(valuelist)
        if text is not None and not re.fullmatch(r"[+-]?[0-9]{1,18}", text.strip()):
            self.data = None
            raise ValueError("Enter a whole number, using the digits 0 to 9")
        super().process_formdata(valuelist)


class Date(DateField):
    """A date like 2026-12-31 (what a phone's date picker sends), digits 0-9."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = _typed(valuelist)
        if text is not None and not text.isascii():
            self.data = None
            raise ValueError(DATE_HINT)
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATE_HINT) from None


class Time(TimeField):
    """A time of day like 21:30 (what a phone's time picker sends), digits 0-9."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = _typed(valuelist)
        if text is not None and not text.isascii():
            self.data = None
            raise ValueError(TIME_HINT)
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(TIME_HINT) from None
