"""Forms for editing the plan from the clinician side."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.auth.models import DISCIPLINE_LABELS, Discipline
from portal.careplan.models import (
    CONCERN_LABELS,
    ActivityStatus,
    Assignee,
    ConcernCategory,
    ItemStatus,
    Sensitivity,
)
from portal.forms import Date, Number, Select
from portal.goals.measures import MEASURES
from portal.goals.models import (
    GOAL_CATEGORY_LABELS,
    Frequency,
    GoalCategory,
    GoalStatus,
)

SENSITIVITY_CHOICES = [("", "Not sensitive")] + [(s.value, s.label) for s in Sensitivity]


class PlanItemForm(FlaskForm):
    """Fields every plan item has."""

    title = StringField(
        "Title",
        validators=[
            DataRequired("Enter a short title"),
            Length(max=200, message="Keep the title under 200 characters"),
        ],
    )
    sensitivity = Select(
        "Sensitive information",
        choices=SENSITIVITY_CHOICES,
        default="",
        description="Sensitive items are shown to the patient and the care team only.",
    )

    def values(self) -> dict[str, Any]:
        """The model attributes this form sets."""
        return {
            "title": self.title.data.strip(),
            "sensitivity": Sensitivity(self.sensitivity.data) if self.sensitivity.data else None,
        }


class ConcernForm(PlanItemForm):
    detail = TextAreaField("What it means for the patient", validators=[Length(max=4000)])
    category = Select(
        "Kind of concern",
        choices=[(c.value, CONCERN_LABELS[c]) for c in ConcernCategory],
        validators=[InputRequired("Choose a kind of concern")],
    )
    status = Select(
        "Status",
        choices=[(ItemStatus.ACTIVE.value, "Active"), (ItemStatus.RESOLVED.value, "Resolved")],
        default=ItemStatus.ACTIVE.value,
    )

    def values(self) -> dict[str, Any]:
        return super().values() | {
            "detail": (self.detail.data or "").strip(),
            "category": ConcernCategory(self.category.data),
            "status": ItemStatus(self.status.data),
        }


class ActivityForm(PlanItemForm):
    detail = TextAreaField("Details", validators=[Length(max=4000)])
    discipline = Select("Discipline", choices=[(d.value, DISCIPLINE_LABELS[d]) for d in Discipline])
    assignee = Select(
        "Who does it",
        choices=[],
        validate_choice=True,
        validators=[DataRequired("Choose who does it, like the patient or a team member")],
    )
    status = Select(
        "Status",
        choices=[(s.value, s.label) for s in ActivityStatus if s is not ActivityStatus.RETIRED],
        default=ActivityStatus.PLANNED.value,
    )
    due_on = Date("Due by (optional)", validators=[Optional()])

    def set_team(self, team) -> None:
        """Offer the patient, a caregiver, or a member of the care team."""
        # No default: an activity is as often the team's as the patient's.
        self.assignee.choices = [
            ("", "Choose who does it"),
            (Assignee.PATIENT.value, "The patient"),
            (Assignee.CAREGIVER.value, "A family caregiver"),
        ] + [(f"user:{t.user_id}", f"{t.name} ({t.role})") for t in team]

    def values(self) -> dict[str, Any]:
        choice = self.assignee.data or Assignee.PATIENT.value
        if choice.startswith("user:"):
            assignee, user_id = Assignee.TEAM, int(choice.split(":", 1)[1])
        else:
            assignee, user_id = Assignee(choice), None
        return super().values() | {
            "detail": (self.detail.data or "").strip(),
            "discipline": Discipline(self.discipline.data),
            "assignee": assignee,
            "assignee_user_id": user_id,
            "status": ActivityStatus(self.status.data),
            "due_on": self.due_on.data,
        }

    def load(self, item) -> None:
        self.assignee.data = (
            f"user:{item.assignee_user_id}" if item.assignee_user_id else item.assignee.value
        )


class GoalForm(PlanItemForm):
    why = TextAreaField("Why it matters to the patient", validators=[Length(max=2000)])
    category = Select(
        "Kind of goal", choices=[(c.value, GOAL_CATEGORY_LABELS[c]) for c in GoalCategory]
    )
    measure = Select(
        "How progress is measured", choices=[(k, m.label) for k, m in MEASURES.items()]
    )
    target_value = Number(
        "Target (optional)",
        validators=[Optional(), NumberRange(min=0, message="Enter a target of 0 or more")],
        render_kw={"inputmode": "decimal"},
    )
    frequency = Select("How often", choices=[(f.value, f.value.capitalize()) for f in Frequency])
    due_on = Date("By when (optional)", validators=[Optional()])
    status = Select(
        "Status",
        choices=[(s.value, s.label) for s in GoalStatus if s is not GoalStatus.CANCELLED],
        default=GoalStatus.PROPOSED.value,
    )

    def values(self) -> dict[str, Any]:
        return super().values() | {
            "why": (self.why.data or "").strip(),
            "category": GoalCategory(self.category.data),
            "measure": self.measure.data,
            "target_value": self.target_value.data,
            "frequency": Frequency(self.frequency.data),
            "due_on": self.due_on.data,
            "status": GoalStatus(self.status.data),
        }


class TeamMemberForm(FlaskForm):
    user_id = Select("Clinician", coerce=int, choices=[])
    role = StringField(
        "Role on this team (optional)",
        validators=[Optional(), Length(max=120)],
    )
    discipline = Select("Discipline", choices=[(d.value, DISCIPLINE_LABELS[d]) for d in Discipline])
    is_lead = BooleanField("Lead clinician for this patient")


FORMS = {"concern": ConcernForm, "activity": ActivityForm, "goal": GoalForm}
