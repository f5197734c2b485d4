"""The clinicians' inbox: goals across their panel waiting for a reply from the team.

The query starts from the clinician's panel (`access.CARE_TEAM_PATIENTS`) and
reads each patient's waiting goals through `ix_goals_patient_waiting`, so its
cost follows the panel, not the clinic. A page is one audit event naming the
patients it shows.

A view first reads what its page shows as the database names it (`shown`: the
goals in order, each with its patient's `data_version`, and the total), and
the page is kept under that (portal/clinic/views.py). Every row's content is
the patient's data, so any write to it, by whatever path, renews the version
(portal/versions.py) and the next view renders afresh (`read_page`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, func, select, true

from portal import transaction
from portal.access import CARE_TEAM_PATIENTS, care_team_params
from portal.auth.models import User
from portal.decisions.preferences_models import PatientPreferences
from portal.decisions.preferences_services import ListLine, list_line, list_line_columns
from portal.goals.models import Goal, GoalMessage, GoalStatus, ProgressEntry
from portal.patients import Patient
from portal.prepared import Prepared

PAGE_SIZE = 50
LAST_PAGE = 10_000  # far beyond any panel; keeps OFFSET inside every database's integers
_WAITING = (Goal.awaiting_reply_since.is_not(None), Goal.status != GoalStatus.CANCELLED)


# Rows are named tuples, not dataclasses: a page builds a hundred of them per view.
class InboxRow(NamedTuple):
    goal_id: int
    goal_title: str
    patient_id: int
    patient_name: str
    waiting_since: datetime
    sensitive: bool
    last_message_id: int | None
    preview: Preview | None = None
    plan_agreed: bool = True
    preferences: ListLine | None = None  # the patient's preferences line, if any


class Preview(NamedTuple):
    """What is waiting: the goal's newest message and newest entry, read with the page."""

    message: str | None  # the newest message, when the patient's side wrote it
    message_at: datetime | None
    measure: str
    entry_value: Decimal | None
    entry_done: bool | None
    entry_note: str | None
    entry_day: date | None


class Shown(NamedTuple):
    """What a page of the inbox shows, as the database names it: the key its markup is kept by.

    Everything a row writes (the patient's name and plan, the goal, its newest message
    and entry, the preferences line and whether this clinician has seen it) is that
    patient's data, and any write to it renews the patient's `data_version`.
    """

    number: int
    total: int  # goals waiting in all (the tab's count, the page links)
    goals: tuple[tuple[int, int, int], ...]  # (goal, patient, patient's data_version), in order

    @property
    def patient_ids(self) -> list[int]:
        return [patient_id for _goal, patient_id, _version in self.goals]


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    number: int
    pages: int  # at least 1, also when nothing waits
    total: int = 0  # goals waiting in all

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def shown(clinician: User, page: int = 1) -> Shown:
    """What a page shows (one query), NOT audited: the view audits the page it serves.

    A page past the end (replies emptied it) shows the last page instead; only
    then do two more queries run.
    """
    number = min(max(page, 1), LAST_PAGE)
    found = _shown(clinician, number)
    if not found.goals and number > 1:
        connection = transaction.flushed()
        count = _COUNTS[connection.dialect.name]
        total = connection.execute(count, care_team_params(clinician)).scalar()
        found = _shown(clinician, _pages(total or 0))
    return found


def read_page(clinician: User, number: int) -> tuple[Shown, InboxPage]:
    """Page `number` in full, NOT audited, with what it shows as read now.

    A write between `shown()` and this read makes the two differ: the markup is
    then kept under what this read found, never under the older versions.
    """
    rows, total, versions = _page(clinician, number)
    goals = zip((r.goal_id for r in rows), (r.patient_id for r in rows), versions, strict=True)
    found = Shown(number, total, tuple(goals))
    return found, InboxPage(rows, number, _pages(total), total)


def inbox_rows(clinician: User, page: int = 1) -> list[InboxRow]:
    """A page's rows, NOT audited: the inbox view is the way in (benchmarks measure this alone)."""
    return _page(clinician, page)[0]


# Built once, run with the clinician's parameters: the panel's waiting goals,
# from the clinician's memberships through each patient's goals.
_TEAM = CARE_TEAM_PATIENTS
_GOAL_COLUMNS = (
    Goal.id,
    Goal.title,
    Goal.patient_id,
    Goal.awaiting_reply_since,
    Goal.sensitivity,
    Goal.last_message_id,
    Goal.measure,
)
_WAITING_GOALS = (
    select(*_GOAL_COLUMNS)
    .select_from(_TEAM)
    .join(Goal, Goal.patient_id == _TEAM.c.patient_id)
    .where(*_WAITING)
)
# On PostgreSQL each panel patient's waiting goals are read through
# ix_goals_patient_waiting, one probe per patient. Joined plainly, the planner
# priced those probes above reading every waiting goal in the clinic and
# hashing them against the panel once the clinic had about as many waiting
# goals as not (the bench's large database: 4.3 ms a page instead of about 1).
# A LATERAL subquery with an OFFSET cannot be flattened into a join: it runs
# once per panel patient and reads that patient's goals, never the clinic's.
_EACH_PATIENTS = (
    select(*_GOAL_COLUMNS)
    .where(Goal.patient_id == _TEAM.c.patient_id, *_WAITING)
    .offset(0)
    .lateral("waiting")
)
_WAITING_BY_DB = {
    "sqlite": _WAITING_GOALS,
    "postgresql": select(_EACH_PATIENTS).select_from(_TEAM).join(_EACH_PATIENTS, true()),
}
_COUNTS = {
    dialect: select(func.count()).select_from(waiting.subquery())
    for dialect, waiting in _WAITING_BY_DB.items()
}
# What counts the waiting goals beside the page's 50, per database. SQLite's
# count(*) OVER () copies every waiting goal into a table of its own before
# the sort (246 us for a 200-goal panel against 178 us for a scalar subquery,
# sqlite3 alone); on PostgreSQL the subquery would read the panel's goals a
# second time, where the window counts them in the pass that sorts them.
_TOTALS = {
    "sqlite": _COUNTS["sqlite"].scalar_subquery(),
    "postgresql": func.count().over(),
}


def _cut(total: Any, waiting: Select) -> Any:
    """A page's goals (with the total), sorted and cut before anything is joined to them."""
    order = waiting.selected_columns
    return (
        waiting.add_columns(total.label("total"))
        .order_by(order.awaiting_reply_since, order.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )


def _shown_statement(total: Any, waiting: Select) -> Select:
    """What a page shows: its goals in order, each patient's data version, the total."""
    cut = _cut(total, waiting)
    return (
        select(cut.c.id, cut.c.patient_id, Patient.data_version, cut.c.total)
        .join(Patient, Patient.id == cut.c.patient_id)
        .order_by(cut.c.awaiting_reply_since, cut.c.id)
    )


def _page_statement(total: Any, waiting: Select) -> Select:
    """The page: its goals sorted and cut first, names joined to those 50 only."""
    cut = _cut(total, waiting)
    # The preview rides along in the same query: the newest message by its key, the
    # newest entry through ix_progress_entries_goal_newest (no query per row).
    newest_entry = (
        select(ProgressEntry.id)
        .where(ProgressEntry.goal_id == cut.c.id, ProgressEntry.deleted_at.is_(None))
        .order_by(ProgressEntry.entry_date.desc(), ProgressEntry.id.desc())
        .limit(1)
        .correlate(cut)
        .scalar_subquery()
    )
    return (
        select(
            cut,
            Patient.given_name,
            Patient.family_name,
            Patient.plan_version,
            Patient.plan_agreed_version,
            Patient.data_version,
            GoalMessage.body.label("message_body"),
            GoalMessage.from_team.label("message_from_team"),
            GoalMessage.created_at.label("message_at"),
            ProgressEntry.value.label("entry_value"),
            ProgressEntry.done.label("entry_done"),
            ProgressEntry.note.label("entry_note"),
            ProgressEntry.entry_date.label("entry_day"),
            # The preferences line rides along too (a second query cost a tenth of the page).
            *list_line_columns(cut.c.patient_id, bindparam("care_team_uid")),
        )
        .join(Patient, Patient.id == cut.c.patient_id)
        .outerjoin(GoalMessage, GoalMessage.id == cut.c.last_message_id)
        .outerjoin(ProgressEntry, ProgressEntry.id == newest_entry)
        .outerjoin(PatientPreferences, PatientPreferences.patient_id == cut.c.patient_id)
        .order_by(cut.c.awaiting_reply_since, cut.c.id)
    )


def _awaiting_statement(waiting: Select) -> Select:
    """Each panel patient with waiting goals, and how many."""
    patient_id = waiting.selected_columns.patient_id
    return waiting.with_only_columns(patient_id, func.count()).group_by(patient_id)


# Every view runs one of these, prepared: SQLAlchemy's own execute spent 100-180 us of
# CPU per call building and hashing the cache key of statements this large.
_PAGES = {d: Prepared(_page_statement(_TOTALS[d], w)) for d, w in _WAITING_BY_DB.items()}
_SHOWN = {d: Prepared(_shown_statement(_TOTALS[d], w)) for d, w in _WAITING_BY_DB.items()}
_AWAITING = {d: _awaiting_statement(w) for d, w in _WAITING_BY_DB.items()}


def _read(params: dict, statements: dict[str, Prepared] = _PAGES) -> list:
    """The page query's rows, read with Core as named tuples: its columns are plain values,
    and the ORM's result machinery cost a fifth of reading them. A session's pending writes
    are flushed first, as its own execute would: reply and next reads after a reply."""
    connection = transaction.flushed()
    return statements[connection.dialect.name].all(connection, params)


def _params(clinician: User, number: int) -> dict[str, Any]:
    offset = (number - 1) * PAGE_SIZE
    return {**care_team_params(clinician), "limit": PAGE_SIZE, "offset": offset}


def _shown(clinician: User, number: int) -> Shown:
    rows = _read(_params(clinician, number), _SHOWN)
    goals = tuple((r.id, r.patient_id, r.data_version) for r in rows)
    return Shown(number, rows[0].total if rows else 0, goals)


def _page(clinician: User, number: int) -> tuple[list[InboxRow], int, list[int]]:
    rows = _read(_params(clinician, number))
    items = [_row(r) for r in rows]
    return items, (rows[0].total if rows else 0), [r.data_version for r in rows]


def next_waiting(clinician: User) -> InboxRow | None:
    """The oldest goal still waiting (reply and next), NOT audited: the goal page it opens is."""
    rows = _read({**care_team_params(clinician), "limit": 1, "offset": 0})
    return _row(rows[0]) if rows else None


def _row(r) -> InboxRow:
    patient_wrote = r.message_body is not None and not r.message_from_team
    preview = Preview(
        r.message_body if patient_wrote else None,
        r.message_at if patient_wrote else None,
        r.measure,
        r.entry_value,
        r.entry_done,
        r.entry_note,
        r.entry_day,
    )
    return InboxRow(
        r.id,
        r.title,
        r.patient_id,
        f"{r.given_name} {r.family_name}",
        r.awaiting_reply_since,
        r.sensitivity is not None,
        r.last_message_id,
        preview,
        r.plan_agreed_version is not None and r.plan_agreed_version == r.plan_version,
        list_line(r),
    )


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def awaiting_patients(clinician: User) -> dict[int, int]:
    """Patients on this clinician's panel with goals waiting for a reply: how many (one query)."""
    connection = transaction.flushed()
    rows = connection.execute(_AWAITING[connection.dialect.name], care_team_params(clinician))
    return {patient_id: waiting for patient_id, waiting in rows}
