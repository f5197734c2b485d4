"""The goals API's bodies as pydantic models: they check requests and describe answers.

Request models check the shape only; the rules (ranges per measure, dates
relative to the patient's today, blank titles) stay in `portal.goals.inputs`,
which the services apply. Limits both need are read from there.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from portal.api.blueprint import RequestBody, ResponseBody, Says
from portal.goals import inputs
from portal.goals.measures import MEASURES
from portal.goals.models import Achievement, Frequency, GoalCategory, GoalStatus

# A number as a person types it into the web app's form ("20", "7,5", "4 000"):
# ASCII digits with at most one decimal point or comma, no exponent.
NumberText = Annotated[
    str, StringConstraints(pattern=r"^\s*(?:[+-]?(?:[0-9][0-9 ]*(?:[.,][0-9]*)?|[.,][0-9]+))?\s*$")
]
# true/false, or the words a form's checkbox or radio sends ("1", "yes", "done", ...).
Flag = bool | Literal[tuple(sorted(inputs.TRUE | inputs.FALSE))]  # type: ignore[valid-type]
Measure = Literal[tuple(MEASURES)]  # type: ignore[valid-type]
Feeling = (
    Annotated[int, Field(ge=inputs.FEELING_MIN, le=inputs.FEELING_MAX)]
    | Annotated[
        str, StringConstraints(pattern=rf"^\s*[{inputs.FEELING_MIN}-{inputs.FEELING_MAX}]\s*$")
    ]
)
A_NUMBER = Says("Enter a number with the digits 0 to 9, like 20 or 7.5")


class EntryInput(RequestBody):
    """A day's progress on a goal, as the web app's offline queue sends it."""

    value: Annotated[
        float | NumberText | None,
        A_NUMBER,
        Field(description="Required for goals measured by a number (see the goal's `numeric`)."),
    ] = None
    done: Annotated[
        Flag | None, Says("Answer true or false"), Field(description="Required for done goals.")
    ] = None
    note: Annotated[str | None, Field(max_length=inputs.NOTE_MAX)] = None
    feeling: Annotated[
        Feeling | None,
        Says(f"Choose how you feel from {inputs.FEELING_MIN} to {inputs.FEELING_MAX}"),
        Field(description="How the patient feels, 1 (bad) to 5 (great)."),
    ] = None
    entry_date: Annotated[
        date | None,
        Field(
            description="Default: today in the patient's time zone; "
            f"up to {inputs.BACKDATE_DAYS} days back."
        ),
    ] = None


class GoalInput(RequestBody):
    """A patient creates their own goal (active); a clinician on the care team proposes one."""

    title: Annotated[str, Field(max_length=inputs.TITLE_MAX)]
    why: Annotated[str | None, Field(max_length=inputs.WHY_MAX)] = None
    category: GoalCategory | None = None
    measure: Annotated[Measure | None, Field(description="Default: done.")] = None
    target_value: Annotated[
        float | NumberText | None,
        A_NUMBER,
        Field(
            description="Per day, or per week for weekly goals; its range depends on the measure."
        ),
    ] = None
    frequency: Frequency | None = None
    due_on: Annotated[date | None, Field(description="Today or later.")] = None
    share: Annotated[
        Flag | None,
        Says("Answer true or false"),
        Field(description="The patient asks the care team for their input."),
    ] = None


class MessageInput(RequestBody):
    """A message for the goal's thread (plain text)."""

    body: Annotated[str, Field(max_length=inputs.MESSAGE_MAX)]


class Person(ResponseBody):
    id: int
    name: str


class Author(ResponseBody):
    id: int | None = Field(description="None once the account is gone.")
    name: str
    role: str = Field(examples=["Primary care physician", "Patient"])


class Progress(ResponseBody):
    """This week, the streak, and whether today is logged."""

    this_week: str = Field(examples=["On target 3 of 4 days so far this week"])
    week_met: int
    week_goal: int
    streak: int
    streak_unit: Literal["day", "week"]
    logged_today: bool


class Goal(ResponseBody):
    """A goal as stored: what, why, how it is measured, who proposed and agreed to it."""

    id: int
    patient_id: int
    title: str
    why: str
    category: GoalCategory
    measure: str = Field(description="done, steps, minutes, servings, ...")
    numeric: bool = Field(description="Logged as a number (else as done or not done).")
    unit: str
    target_value: float | None
    frequency: Frequency
    due_on: date | None
    status: GoalStatus
    achievement: Achievement
    sensitive: bool
    shared_with_team: bool
    proposed_by: Person | None
    agreed_by: Person | None
    agreed_at: datetime | None
    url: str = Field(description="The goal's page in the portal.")


class GoalWithProgress(Goal):
    """A goal with this week's progress and whether its thread has news for the reader."""

    progress: Progress
    unread_messages: bool


class Entry(ResponseBody):
    id: int
    goal_id: int
    entry_date: date
    value: float | None
    done: bool | None
    note: str
    feeling: int | None = Field(ge=inputs.FEELING_MIN, le=inputs.FEELING_MAX)
    idempotency_key: str
    created_at: datetime
    updated_at: datetime | None
    deleted: bool


class GoalDetail(GoalWithProgress):
    """One goal with its progress, a chart summary in words and its recent entries."""

    chart_summary: str = Field(examples=["In the last 14 days ..."])
    entries: list[Entry]


class GoalList(ResponseBody):
    today: date = Field(description="Today in the patient's time zone.")
    goals: list[GoalWithProgress]


class Message(ResponseBody):
    id: int
    goal_id: int
    author: Author
    from_team: bool
    body: str = Field(description="Plain text; render it escaped.")
    created_at: datetime


class MessageList(ResponseBody):
    messages: list[Message] = Field(description="Oldest first.")
