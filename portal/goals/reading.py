"""The goal's read side: lists, the goal page, its kept-page state, and the home screen.

Services flush and audit; the request commits (portal/web.py). They receive the
`Access` (who acts, for whom, with which scopes) and never read the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from werkzeug.exceptions import NotFound

from portal import audit, transaction
from portal.access import Access, Scope
from portal.auth.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.goals import progress as calc
from portal.goals.chart import Chart, render
from portal.goals.day_totals import day_total
from portal.goals.measures import Measure, measure_for
from portal.goals.models import (
    Goal,
    GoalDayTotal,
    GoalMessage,
    GoalRead,
    GoalStatus,
    ProgressEntry,
)
from portal.pagecache import Versions, version_columns
from portal.patients import Patient
from portal.prepared import Prepared

EDIT_WINDOW = timedelta(hours=24)
PAGE_ENTRIES = 20  # entries listed on the goal page
PAGE_MESSAGES = 100  # newest messages shown in a thread
HOME_REPLIES = 5


# -- helpers -----------------------------------------------------------------


def goal_path(patient_id: int, goal_id: int) -> str:
    """The goal page's path, for notifications (no request needed)."""
    return f"/p/{patient_id}/goals/{goal_id}"


def patient_zone(access: Access) -> ZoneInfo:
    """The patient's time zone: their days are the days entries are about."""
    name = access.patient_timezone
    if name is None and access.patient_user_id is not None:
        name = db.session.scalar(select(User.timezone).where(User.id == access.patient_user_id))
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def patient_today(access: Access) -> date:
    """Today, in the patient's time zone."""
    return datetime.now(patient_zone(access)).date()


def visible(access: Access) -> list[Any]:
    clauses = [Goal.patient_id == access.patient_id]
    if not access.sees_sensitive:
        clauses.append(Goal.sensitivity.is_(None))
    return clauses


def get_goal(access: Access, goal_id: int) -> Goal:
    """One goal of this patient that this access may see, else 404."""
    access.require(Scope.GOALS_READ)
    goal = db.session.scalar(select(Goal).where(Goal.id == goal_id, *visible(access)))
    if goal is None:
        raise NotFound()
    return goal


def entry_rows(goals: list[Goal], since: date) -> dict[int, list[tuple]]:
    """(date, value, done) per day since `since`, per goal, added up by the database.

    Several entries on one day are added up (or averaged, for measures like
    mood) as they are written (portal/goals/day_totals.py), so the cost follows
    the number of days shown, not the number of entries logged. One query for
    any number of goals.
    """
    rows: dict[int, list[tuple]] = {goal.id: [] for goal in goals}
    if not goals:
        return rows
    means = {goal.id for goal in goals if measure_for(goal.measure).daily == "mean"}
    result = db.session.execute(
        select(
            GoalDayTotal.goal_id,
            GoalDayTotal.entry_date,
            GoalDayTotal.total,
            GoalDayTotal.valued,
            GoalDayTotal.done,
        )
        .where(
            GoalDayTotal.goal_id.in_(rows),
            GoalDayTotal.entry_date >= since,
            GoalDayTotal.entries > 0,
        )
        .order_by(GoalDayTotal.goal_id, GoalDayTotal.entry_date)
    )
    for goal_id, day, total, count, done in result:
        value = None if not count else day_total(total)
        if value is not None and goal_id in means:
            value = value / count
        rows[goal_id].append((day, value, bool(done)))
    return rows


def names(user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def _progress(goal: Goal, rows: list[tuple], today: date) -> calc.Progress:
    return calc.compute(measure_for(goal.measure), goal.target_value, goal.frequency, rows, today)


# -- reading -----------------------------------------------------------------


@dataclass
class GoalCard:
    """A goal in a list: what it is, this week, the streak, whether there is news."""

    goal: Goal
    measure: Measure
    progress: calc.Progress
    unread: bool = False


@dataclass
class GoalList:
    cards: list[GoalCard]
    today: date
    people: dict[int, str]

    @property
    def proposals(self) -> list[GoalCard]:
        return [c for c in self.cards if c.goal.status is GoalStatus.PROPOSED]

    @property
    def active(self) -> list[GoalCard]:
        return [c for c in self.cards if c.goal.status is GoalStatus.ACTIVE]

    @property
    def other(self) -> list[GoalCard]:
        shown = (GoalStatus.PROPOSED, GoalStatus.ACTIVE)
        return [c for c in self.cards if c.goal.status not in shown]


def list_goals(access: Access, *, include_closed: bool = False) -> GoalList:
    """The patient's goals with this week's progress; a fixed number of queries."""
    access.require(Scope.GOALS_READ)
    proposer, agreer = aliased(User), aliased(User)
    query = (
        select(Goal, proposer.name, agreer.name, GoalRead.last_read_message_id)
        .outerjoin(proposer, proposer.id == Goal.proposed_by_id)
        .outerjoin(agreer, agreer.id == Goal.agreed_by_id)
        .outerjoin(GoalRead, (GoalRead.goal_id == Goal.id) & (GoalRead.user_id == access.actor_id))
        .where(*visible(access))
    )
    if not include_closed:
        query = query.where(Goal.status != GoalStatus.CANCELLED)
    rows = db.session.execute(query.order_by(Goal.status, Goal.id)).all()
    goals = [row[0] for row in rows]
    people: dict[int, str] = {}
    read: dict[int, int] = {}
    for goal, proposed_by, agreed_by, last_read in rows:
        if proposed_by:
            people[goal.proposed_by_id] = proposed_by
        if agreed_by:
            people[goal.agreed_by_id] = agreed_by
        read[goal.id] = last_read or 0
    today = patient_today(access)
    entries = entry_rows(list(goals), today - timedelta(days=calc.HISTORY_DAYS))
    cards = [
        GoalCard(
            g,
            measure_for(g.measure),
            _progress(g, entries[g.id], today),
            (g.last_message_id or 0) > read[g.id],
        )
        for g in goals
    ]
    audit.record(access, "read", "goals", access.patient_id)
    return GoalList(cards, today, people)


@dataclass
class GoalPage:
    """Everything the goal page shows, loaded in a fixed number of queries."""

    goal: Goal
    measure: Measure
    progress: calc.Progress
    chart: Chart
    entries: list[ProgressEntry]
    messages: list[GoalMessage]
    last_read: int
    people: dict[int, str]
    today: date
    actor_id: int
    now: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class GoalState:
    """What a goal page is named by and must know per request, read in one query."""

    goal_id: int
    versions: Versions
    last_read: int  # the newest message this reader had read (0: none)
    has_marker: bool
    newest_message: int  # 0: no messages


_GOAL_STATE = Prepared(
    select(
        Goal.id,
        Goal.sensitivity,
        # From the messages themselves (an index lookup), whoever wrote them.
        select(func.max(GoalMessage.id))
        .where(GoalMessage.goal_id == Goal.id)
        .scalar_subquery()
        .label("newest_message"),
        GoalRead.last_read_message_id,
        *version_columns(),
    )
    .join(Patient, Patient.id == Goal.patient_id)
    .outerjoin(GoalRead, (GoalRead.goal_id == Goal.id) & (GoalRead.user_id == bindparam("uid")))
    .where(Goal.id == bindparam("gid"), Goal.patient_id == bindparam("pid"))
)


def goal_state(access: Access, goal_id: int) -> GoalState:
    """The goal's versions, newest message and this reader's read marker; 404 like `get_goal`."""
    access.require(Scope.GOALS_READ)
    params = {"gid": goal_id, "pid": access.patient_id, "uid": access.actor_id}
    row = _GOAL_STATE.first(transaction.connection(), params)
    if row is None or (row.sensitivity is not None and not access.sees_sensitive):
        raise NotFound()
    marker = row.last_read_message_id
    return GoalState(
        row.id, Versions.of(row), marker or 0, marker is not None, row.newest_message or 0
    )


def saw_goal(access: Access, state: GoalState) -> None:
    """What reading a goal page does, kept or rendered: mark the thread read, audit."""
    if state.newest_message > state.last_read:
        marker = None
        if state.has_marker:
            marker = db.session.get(GoalRead, (access.actor_id, state.goal_id))
        mark_thread_read(access.actor_id, state.goal_id, state.newest_message, marker)
    audit.record(access, "read", "goal", state.goal_id)


def load_goal_page(
    access: Access, goal_id: int, *, mark_read: bool = True, record: bool = True
) -> GoalPage:
    """The goal with its chart, week, streak, recent entries and thread; marks it read.

    `mark_read=False, record=False` when the caller has done both (`saw_goal`).
    """
    goal = get_goal(access, goal_id)
    today = patient_today(access)
    rows = entry_rows([goal], today - timedelta(days=calc.HISTORY_DAYS))[goal.id]
    prog = _progress(goal, rows, today)
    measure = measure_for(goal.measure)
    chart = render(goal.id, measure, goal.target_value, goal.frequency, prog)
    entries = list(
        db.session.scalars(
            select(ProgressEntry)
            .where(ProgressEntry.goal_id == goal.id, ProgressEntry.deleted_at.is_(None))
            .order_by(ProgressEntry.entry_date.desc(), ProgressEntry.id.desc())
            .limit(PAGE_ENTRIES)
        )
    )
    messages = list(
        db.session.scalars(
            select(GoalMessage)
            .where(GoalMessage.goal_id == goal.id)
            .order_by(GoalMessage.id.desc())
            .limit(PAGE_MESSAGES)
        )
    )
    messages.reverse()
    marker = db.session.get(GoalRead, (access.actor_id, goal.id))
    last_read = marker.last_read_message_id if marker else 0
    # The actor and the patient are named by the access: most goals need no query.
    known = {access.actor_id: access.actor_name}
    if access.patient_user_id is not None:
        known[access.patient_user_id] = access.patient_name
    # Entries someone else logged for the patient (a caregiver) are signed with their name.
    wanted = {goal.proposed_by_id, goal.agreed_by_id} | {e.created_by_id for e in entries}
    wanted.discard(None)
    people = {i: known[i] for i in wanted if i in known}
    people.update(names(wanted - people.keys()))
    if mark_read and messages and messages[-1].id > last_read:
        mark_thread_read(access.actor_id, goal.id, messages[-1].id, marker)
    if record:
        audit.record(access, "read", "goal", goal.id)
    return GoalPage(
        goal, measure, prog, chart, entries, messages, last_read, people, today, access.actor_id
    )


def mark_thread_read(user_id: int, goal_id: int, message_id: int, marker: GoalRead | None) -> None:
    if marker is None:
        try:
            # A savepoint: the same reader in two tabs must not turn a read into an error.
            with db.session.begin_nested():
                db.session.add(
                    GoalRead(
                        user_id=user_id,
                        goal_id=goal_id,
                        last_read_message_id=message_id,
                        read_at=utcnow(),
                    )
                )
            return
        except IntegrityError:
            marker = db.session.get(GoalRead, (user_id, goal_id), populate_existing=True)
            if marker is None:
                raise
    marker.last_read_message_id = max(marker.last_read_message_id or 0, message_id)
    marker.read_at = utcnow()


@dataclass
class TeamReply:
    message: GoalMessage
    goal_title: str


@dataclass
class HomeGoals:
    """The home screen's goal parts: today's goals, proposals, and new team replies."""

    goals: GoalList
    replies: list[TeamReply]


def home(access: Access) -> HomeGoals:
    """Today's goals with one-tap logging, and the team's unread replies newest first."""
    goals = list_goals(access)
    marker = aliased(GoalRead)
    rows = db.session.execute(
        select(GoalMessage, Goal.title)
        .join(Goal, Goal.id == GoalMessage.goal_id)
        .outerjoin(
            marker,
            (marker.goal_id == GoalMessage.goal_id) & (marker.user_id == access.actor_id),
        )
        .where(
            *visible(access),
            GoalMessage.from_team.is_(True),
            GoalMessage.id > func.coalesce(marker.last_read_message_id, 0),
        )
        .order_by(GoalMessage.id.desc())
        .limit(HOME_REPLIES)
    ).all()
    audit.record(access, "read", "goal_thread", None)
    return HomeGoals(goals, [TeamReply(m, title) for m, title in rows])
