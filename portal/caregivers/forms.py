"""Forms of the People page, the invitation, and a guardian's link."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.auth.forms import NewPassword
from portal.caregivers.choices import CHOICES, SENSITIVE_HINT, SENSITIVE_LABEL
from portal.caregivers.guardians import END_CAUSE_LABELS, END_CAUSES
from portal.forms import Date


class Checkboxes(SelectMultipleField):
    """A list of checkboxes (a fieldset on the page), each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        valid = {value for value, _ in self.choices}
        if any(value not in valid for value in self.data or ()):
            raise ValidationError("Choose from the list")


def _name(label: str) -> StringField:
    return StringField(
        label,
        validators=[
            DataRequired("Enter their name"),
            Length(max=120, message="Keep the name under 120 characters"),
        ],
        render_kw={"autocomplete": "off"},
    )


def _email(label: str = "Their email address") -> EmailField:
    return EmailField(
        label,
        validators=[
            DataRequired("Enter their email address"),
            Email("Enter an email address like name@example.com"),
            Length(max=254, message="Enter an email address of 254 characters or fewer"),
        ],
        render_kw={"spellcheck": "false", "autocapitalize": "none", "autocomplete": "off"},
    )


def _relationship() -> StringField:
    return StringField(
        "How are they related to you?",
        validators=[
            DataRequired("Say how you know them, like “Son” or “Friend”"),
            Length(max=60, message="Keep this under 60 characters"),
        ],
        description="For example: son, daughter, partner, friend, neighbour.",
    )


class ScopesForm(FlaskForm):
    """What they may do, sensitive items as their own choice, and until when."""

    choices = Checkboxes(
        "What may they do?",
        choices=[(c.key, c.label) for c in CHOICES],
        description="Choose everything they may do. You can change this at any time.",
    )
    include_sensitive = BooleanField(SENSITIVE_LABEL, description=SENSITIVE_HINT)
    ends_on = Date(
        "Until when?",
        validators=[DataRequired("Enter the date their access ends, like 31 12 2027")],
        description="At most 24 months from today. We will remind you 2 weeks before.",
    )

    def validate_choices(self, field) -> None:
        if not field.data:
            raise ValidationError("Choose at least one thing they may do")


class InviteForm(ScopesForm):
    name = _name("Their name")
    email = _email()
    relationship = _relationship()


class GuardianForm(FlaskForm):
    """Clinic staff link a parent or legal guardian of a patient under 18."""

    name = _name("The guardian's name")
    email = _email("The guardian's email address")
    relationship = StringField(
        "Relationship to the patient",
        validators=[DataRequired("Say how they are related, like “Mother”"), Length(max=60)],
    )


class EndGuardianForm(FlaskForm):
    """Clinic staff end a guardian's access: why (from a list), and a note for the record."""

    cause = RadioField(
        "Why does their access end?",
        choices=list(END_CAUSES),
        validators=[DataRequired("Choose why their access ends")],
        validate_choice=False,  # checked below, in words (WTForms would say "Not a valid choice")
    )
    note = TextAreaField(
        "Note for the record (optional)",
        validators=[Length(max=500, message="Keep the note to 500 characters or fewer")],
        description="Only the care team sees this. It is not sent to the guardian.",
        render_kw={"rows": 3, "maxlength": 500},
    )

    def validate_cause(self, field) -> None:
        if field.data not in END_CAUSE_LABELS:
            raise ValidationError("Choose why their access ends")

    def validate_note(self, field) -> None:
        if self.cause.data == "other" and not (field.data or "").strip():
            raise ValidationError("Say in a few words why their access ends")


class RegisterForm(FlaskForm):
    """A caregiver's own new account, made from an invitation."""

    name = _name("Your name")
    email = _email("Your email address")
    password = PasswordField(
        "Choose a password",
        validators=[DataRequired("Choose a password"), NewPassword()],
        render_kw={"autocomplete": "new-password"},
    )
    account_email: str | None = None
