"""The decisions API's bodies as pydantic models: they check requests and describe answers.

Request models check the shape; the rules (which options exist, open or
decided) stay in the services and `portal.decisions.inputs`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from portal.api.blueprint import RequestBody, ResponseBody, Says
from portal.careplan.models import Sensitivity
from portal.decisions import inputs
from portal.decisions.models import DecisionStatus

Score = Annotated[int, Field(ge=0, le=9), Says("Choose a whole number from 0 to 9")]
YesNo = Annotated[bool, Says("Answer true (yes) or false (no)")]


class LeanInput(RequestBody):
    """Which option the patient leans towards (null: not sure yet), and why."""

    option_id: int | None = Field(description="One of the decision's option ids, or null.")
    why: Annotated[str | None, Field(max_length=inputs.WHY_MAX)] = None


class SureInput(RequestBody):
    """The four SURE questions, each yes (true) or no (false)."""

    sure: YesNo = Field(description="Do you feel sure about the best choice for you?")
    understand: YesNo = Field(description="Do you know the benefits and risks of each option?")
    risk_benefit: YesNo = Field(
        description="Are you clear about which benefits and risks matter most to you?"
    )
    encouragement: YesNo = Field(
        description="Do you have enough support and advice to make a choice?"
    )


class CollaborateInput(RequestBody):
    """CollaboRATE after the decision: how much effort the team made, 0 (none) to 9 (every)."""

    understand: Score = Field(
        description="How much effort was made to help you understand your health issues?"
    )
    listen: Score = Field(
        description="How much effort was made to listen to the things that matter most "
        "to you about your health issues?"
    )
    include: Score = Field(
        description="How much effort was made to include what matters most to you in "
        "choosing what to do next?"
    )


class Option(ResponseBody):
    """One option, Option Grid style, in plain language."""

    id: int
    position: int
    title: str
    involves: str
    benefits: str
    risks: str
    burdens: str
    chosen: bool


class DecisionSummary(ResponseBody):
    id: int
    question: str
    status: DecisionStatus
    decide_by: date | None
    ready: bool | None = Field(
        description="SURE: null not answered yet; false fewer than four yes (not ready)."
    )
    sensitive: bool
    sensitivity: Sensitivity | None
    chosen_option: str | None = Field(description="The chosen option's title, once decided.")
    url: str = Field(description="The decision's page in the portal.")


class DecisionList(ResponseBody):
    decisions: list[DecisionSummary] = Field(description="Open ones first, by date to decide.")


class Lean(ResponseBody):
    option_id: int | None
    why: str
    by: str
    at: datetime


class Sure(ResponseBody):
    sure: bool
    understand: bool
    risk_benefit: bool
    encouragement: bool
    score: int = Field(ge=0, le=4)
    ready: bool = Field(description="All four yes.")
    at: datetime


class Collaborate(ResponseBody):
    understand: int = Field(ge=0, le=9)
    listen: int = Field(ge=0, le=9)
    include: int = Field(ge=0, le=9)
    top_score: bool = Field(description="9 on all three items.")
    at: datetime


class Outcome(ResponseBody):
    decided_at: datetime
    decided_by: str
    participants: list[str]
    revisit_on: date | None
    note: str
    goal_id: int | None
    activity_id: int | None


class Decision(DecisionSummary):
    """One decision: its options, the patient's lean and latest SURE, the outcome."""

    context: str
    opened_by: str
    opened_at: datetime
    options: list[Option]
    lean: Lean | None
    sure_answers: Sure | None = Field(description="The latest SURE answers.")
    outcome: Outcome | None
    collaborate_answered: bool
