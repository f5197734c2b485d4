"""Administrators' forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.auth.models import DISCIPLINE_LABELS
from portal.enrolment.forms import PersonName, name_field
from portal.forms import Select


class NewClinicianForm(FlaskForm):
    name = name_field("Name", max_length=120)
    email = EmailField(
        "Email address",
        validators=[
            DataRequired("Enter the clinician's email address"),
            Email("Enter an email address like name@example.com"),
            Length(max=254, message="Enter an email address of 254 characters or fewer"),
        ],
        description="Their work address: we send the link to set up the account here.",
        render_kw={"spellcheck": "false", "autocapitalize": "none", "autocomplete": "off"},
    )
    discipline = Select(
        "Discipline",
        choices=[("", "Choose a discipline")]
        + [(d.value, label) for d, label in DISCIPLINE_LABELS.items()],
        validators=[DataRequired("Choose the clinician's discipline")],
    )
    job_title = StringField(
        "Job title",
        validators=[
            Optional(),
            Length(max=120, message="Keep the job title to 120 characters"),
            PersonName(),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description='How patients see their role, like "Primary care physician".',
    )


class ActionForm(FlaskForm):
    """A button and its CSRF token."""


class CorrectEmailForm(FlaskForm):
    email = EmailField(
        "Correct email address",
        validators=[
            DataRequired("Enter the email address"),
            Email("Enter an email address like name@example.com"),
            Length(max=254, message="Enter an email address of 254 characters or fewer"),
        ],
        render_kw={"spellcheck": "false", "autocapitalize": "none", "autocomplete": "off"},
    )
