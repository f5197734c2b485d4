"""Filters of the access log and the audit report: GET forms, no CSRF (they change nothing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from portal.forms import Date, Integer


class _PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    since = Date(
        "From",
        validators=[Optional()],
        render_kw={"autocomplete": "off"},
    )
    until = Date("To", validators=[Optional()], render_kw={"autocomplete": "off"})
    page = Integer(validators=[Optional(), NumberRange(min=1, max=100_000)], default=1)

    def validate_until(self, field) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Enter a “to” date on or after the “from” date.")

    def period(self, zone: str | None) -> tuple[datetime | None, datetime | None]:
        """The dates as UTC instants: from the start of `since` to the end of `until`."""
        tz = _zone(zone)

        def start(day: date | None) -> datetime | None:
            return datetime.combine(day, time(), tz).astimezone(UTC) if day else None

        until = self.until.data
        return start(self.since.data), start(until + timedelta(days=1) if until else None)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


class HistoryFilter(_PeriodForm):
    person = SelectField("Person", coerce=int, choices=[(0, "Everyone")], default=0)


class ReportFilter(_PeriodForm):
    patient = Integer("Patient number", validators=[Optional(), NumberRange(min=1)])
    user = Integer("User number", validators=[Optional(), NumberRange(min=1)])
    action = StringField("Action", validators=[Optional()], render_kw={"maxlength": 40})
