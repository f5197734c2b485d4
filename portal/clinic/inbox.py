"""The clinicians' inbox: goals across their panel waiting for a reply from the team.

The query starts from the clinician's panel (`access.CARE_TEAM_PATIENTS`) and
reads each patient's waiting goals through `ix_goals_patient_waiting`, so its
cost follows the panel, not the clinic. A page is one query and one audit
event naming the patients it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select

from portal import audit
from portal.access import CARE_TEAM_PATIENTS, care_team_params
from portal.auth.models import User
from portal.extensions import db
from portal.goals.models import Goal, GoalStatus
from portal.patients import Patient

PAGE_SIZE = 50
LAST_PAGE = 10_000  # far beyond any panel; keeps OFFSET inside every database's integers
_WAITING = (Goal.awaiting_reply_since.is_not(None), Goal.status != GoalStatus.CANCELLED)


@dataclass(frozen=True)
class InboxRow:
    goal_id: int
    goal_title: str
    patient_id: int
    patient_name: str
    waiting_since: datetime
    sensitive: bool
    last_message_id: int | None


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    number: int
    pages: int  # at least 1, also when nothing waits

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def inbox_page(clinician: User, page: int = 1) -> InboxPage:
    """One page of waiting goals, oldest first, audited as one list event.

    A page past the end (replies emptied it) shows the last page instead; only
    then do two more queries run.
    """
    number = min(max(page, 1), LAST_PAGE)
    rows, total = _page(clinician, number)
    if not rows and number > 1:
        total = db.session.scalar(_COUNT, care_team_params(clinician))
        number = _pages(total or 0)
        rows, total = _page(clinician, number)
    audit.record_list(clinician.id, "goal_inbox", (row.patient_id for row in rows))
    return InboxPage(rows, number, _pages(total))


def inbox_rows(clinician: User, page: int = 1) -> list[InboxRow]:
    """A page's rows, NOT audited: `inbox_page()` is the way in (benchmarks measure this alone)."""
    return _page(clinician, page)[0]


# Built once, run with the clinician's parameters: the panel's waiting goals,
# from the clinician's memberships through each patient's goals.
_TEAM = CARE_TEAM_PATIENTS
_WAITING_GOALS = (
    select(
        Goal.id,
        Goal.title,
        Goal.patient_id,
        Goal.awaiting_reply_since,
        Goal.sensitivity,
        Goal.last_message_id,
    )
    .select_from(_TEAM)
    .join(Goal, Goal.patient_id == _TEAM.c.patient_id)
    .where(*_WAITING)
)
_COUNT = select(func.count()).select_from(_WAITING_GOALS.subquery())
# Sorted and cut first; names are joined to the page's 50 goals only.
_CUT = (
    _WAITING_GOALS.add_columns(func.count().over().label("total"))
    .order_by(Goal.awaiting_reply_since, Goal.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
    .subquery("page")
)
_PAGE = (
    select(_CUT, Patient.given_name, Patient.family_name)
    .join(Patient, Patient.id == _CUT.c.patient_id)
    .order_by(_CUT.c.awaiting_reply_since, _CUT.c.id)
)
_AWAITING = (
    select(Goal.patient_id)
    .select_from(_TEAM)
    .join(Goal, Goal.patient_id == _TEAM.c.patient_id)
    .where(*_WAITING)
    .distinct()
)


def _page(clinician: User, number: int) -> tuple[list[InboxRow], int]:
    params = {**care_team_params(clinician), "limit": PAGE_SIZE}
    rows = db.session.execute(_PAGE, {**params, "offset": (number - 1) * PAGE_SIZE}).all()
    items = [_row(r) for r in rows]
    return items, (rows[0].total if rows else 0)


def next_waiting(clinician: User) -> InboxRow | None:
    """The oldest goal still waiting (reply and next), NOT audited: the goal page it opens is."""
    rows = db.session.execute(_PAGE, {**care_team_params(clinician), "limit": 1, "offset": 0}).all()
    return _row(rows[0]) if rows else None


def _row(r) -> InboxRow:
    return InboxRow(
        r.id,
        r.title,
        r.patient_id,
        f"{r.given_name} {r.family_name}",
        r.awaiting_reply_since,
        r.sensitivity is not None,
        r.last_message_id,
    )


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def awaiting_patients(clinician: User) -> set[int]:
    """Patients on this clinician's panel with a goal waiting for a reply (one query)."""
    return set(db.session.scalars(_AWAITING, care_team_params(clinician)))
