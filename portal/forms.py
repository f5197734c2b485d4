"""Form fields shared by every feature."""

from __future__ import annotations

from typing import Any

from wtforms import SelectField
from wtforms.validators import ValidationError


def choice_value(value: Any) -> str:
    """Enums and None as the strings a <select> sends."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


class Select(SelectField):
    """A select whose model values may be enums or None, with a message people understand."""

    def __init__(self, label: str | None = None, validators=None, **kwargs: Any) -> None:
        kwargs.setdefault("coerce", choice_value)
        super().__init__(label, validators, **kwargs)

    def pre_validate(self, form) -> None:
        if not self.validate_choice or self.choices is None:
            return
        values = {choice_value(choice[0]) for choice in self.choices}
        if choice_value(self.data) not in values:
            raise ValidationError(f"Choose one of the options for “{self.label.text}”")
