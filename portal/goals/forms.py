"""Forms for goals. They render fields and carry errors; the checking is in goals/inputs.py.

The same rules serve the JSON API, so the services check every value and the
views copy their per-field messages onto these forms.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField

from portal.goals.inputs import Invalid
from portal.goals.measures import MEASURES
from portal.goals.models import (
    GOAL_CATEGORY_LABELS,
    Achievement,
    Frequency,
    GoalCategory,
    GoalStatus,
)

FREQUENCY_LABELS = {Frequency.DAILY: "Every day", Frequency.WEEKLY: "Every week"}


class ServiceForm(FlaskForm):
    """A form whose values the services check (CSRF is checked app-wide by CSRFProtect)."""

    class Meta:
        csrf = False

    def data_for_service(self) -> dict[str, Any]:
        return {name: field.data for name, field in self._fields.items()}

    def show(self, error: Invalid) -> None:
        """Put the service's messages next to the fields they are about."""
        for name, message in error.fields.items():
            field = self._fields.get(name)
            if field is None:
                self.form_errors.append(message)
            else:
                field.errors = [message]


class GoalForm(ServiceForm):
    title = StringField(
        "Your goal",
        description="In your own words, like “Walk to the park and back”.",
        render_kw={"maxlength": 200, "autocomplete": "off"},
    )
    why = TextAreaField(
        "Why it matters to you (optional)",
        description="For example: “I want to keep up with my grandkids.”",
        render_kw={"rows": 3, "maxlength": 2000},
    )
    category = SelectField(
        "What kind of goal is it?",
        choices=[(c.value, GOAL_CATEGORY_LABELS[c]) for c in GoalCategory],
        default=GoalCategory.PHYSICAL_ACTIVITY.value,
    )
    measure = SelectField(
        "How will you measure it?",
        choices=[(k, m.label) for k, m in MEASURES.items()],
        default="done",
    )
    target_value = StringField(
        "Target (optional)",
        description="A number, like 30 for 30 minutes. For done or not done goals done "
        "weekly: how many days a week.",
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    frequency = SelectField(
        "How often?",
        choices=[(f.value, FREQUENCY_LABELS[f]) for f in Frequency],
        default=Frequency.DAILY.value,
    )
    due_on = StringField(
        "By when? (optional)",
        description="For example, 2026-12-31.",
        render_kw={"type": "date"},
    )

    def load(self, goal) -> None:
        self.title.data = goal.title
        self.why.data = goal.why
        self.category.data = goal.category.value
        self.measure.data = goal.measure
        self.target_value.data = "" if goal.target_value is None else f"{goal.target_value:f}"
        self.frequency.data = goal.frequency.value
        self.due_on.data = goal.due_on.isoformat() if goal.due_on else ""


class NewGoalForm(GoalForm):
    share = BooleanField(
        "Ask my care team what they think",
        default=True,
        description="They can reply with ideas and encouragement.",
    )


class ReviewForm(ServiceForm):
    status = SelectField(
        "Status",
        choices=[
            (s.value, s.label) for s in GoalStatus if s.value in ("active", "on_hold", "completed")
        ],
    )
    achievement = SelectField(
        "How is it going?",
        choices=[(a.value, a.label) for a in Achievement],
        description="Goals with a number work this out from the entries.",
    )
    note = TextAreaField("Note for the record (optional)", render_kw={"rows": 2})
    agree = BooleanField("I agree with this goal")


class MessageForm(ServiceForm):
    body = TextAreaField(
        "Your message",
        render_kw={"rows": 3, "maxlength": 2000},
    )


class EntryEditForm(ServiceForm):
    value = StringField("Amount", render_kw={"autocomplete": "off"})
    done = RadioField("Did you do it?", choices=[("1", "Done"), ("0", "Not done")])
    note = TextAreaField("Note (optional)", render_kw={"rows": 2, "maxlength": 1000})
    feeling = RadioField(
        "How do you feel? (optional)",
        choices=[("1", "1 Bad"), ("2", "2"), ("3", "3 OK"), ("4", "4"), ("5", "5 Great")],
    )
    entry_date = StringField("Day", render_kw={"type": "date"})


class DeclineForm(ServiceForm):
    reason = TextAreaField("Tell your team why (optional)", render_kw={"rows": 2})
