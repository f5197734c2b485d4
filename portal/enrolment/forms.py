"""Forms: enrol a patient, choose a first password."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from portal.auth import passwords
from portal.auth.forms import NewPassword
from portal.forms import Select

_DIGITS = re.compile(r"[0-9]{1,4}", re.ASCII)  # "١٩٩٠" is digits to Python, not to us


class PersonName:
    """A name as people write it: any letters, no control characters."""

    def __call__(self, form, field) -> None:
        if any(unicodedata.category(c).startswith("C") for c in field.data or ""):
            raise ValidationError(f"Enter the {field.label.text.lower()} using letters")


def name_field(label: str, max_length: int = 80) -> StringField:
    return StringField(
        label,
        validators=[
            DataRequired(f"Enter the {label.lower()}"),
            Length(
                max=max_length,
                message=f"Keep the {label.lower()} to {max_length} characters",
            ),
            PersonName(),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


def _date_part(label: str, size: int) -> StringField:
    return StringField(
        label,
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"inputmode": "numeric", "maxlength": str(size), "autocomplete": "off"},
    )


BIRTH_DATE_HINT = "For example, 27 3 1968"


class EnrolPatientForm(FlaskForm):
    """GOV.UK's memorable-date pattern: day, month and year as three boxes."""

    given_name = name_field("Given name")
    family_name = name_field("Family name")
    birth_day = _date_part("Day", 2)
    birth_month = _date_part("Month", 2)
    birth_year = _date_part("Year", 4)
    email = EmailField(
        "Email address",
        validators=[
            DataRequired("Enter the patient's email address"),
            Email("Enter an email address like name@example.com"),
            Length(max=254, message="Enter an email address of 254 characters or fewer"),
        ],
        description="We send the link to set up their account here. It must be theirs alone.",
        render_kw={"spellcheck": "false", "autocapitalize": "none", "autocomplete": "off"},
    )
    lead_id = Select(
        "Who leads their care team",
        description="They see the patient on their panel and can add the rest of the team.",
        validate_choice=False,  # checked by the service against the clinicians of today
    )
    birth_date: date | None = None

    def validate_birth_day(self, field) -> None:
        """Check the three boxes together; the error sits on the first."""
        parts = (self.birth_day.data or "", self.birth_month.data or "", self.birth_year.data or "")
        if not all(parts):
            raise ValidationError("Enter the date of birth: day, month and year")
        if not all(_DIGITS.fullmatch(part) for part in parts) or len(parts[2]) != 4:
            raise ValidationError(
                "Enter the date of birth in numbers, with a 4-digit year, like 27 3 1968"
            )
        try:
            self.birth_date = date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError as error:
            raise ValidationError("Date of birth must be a real date, like 27 3 1968") from error


class ActivateForm(FlaskForm):
    password = PasswordField(
        "Choose a password",
        validators=[DataRequired("Choose a password"), NewPassword()],
        description=(
            f"At least {passwords.MIN_LENGTH} characters. A few words in a row, "
            "with spaces if you like, are long and easy to remember."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    account_email: str | None = None


class ResendForm(FlaskForm):
    """A button and its CSRF token."""
