"""Domain operations on goals, progress entries and goal threads.

Services flush and audit; the request commits (portal/web.py). They receive the
`Access` (who acts, for whom, with which scopes) and never read the request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from werkzeug.exceptions import NotFound

from portal import audit, notifications
from portal.access import Access, AccessDenied, Scope
from portal.auth.models import User
from portal.careplan.models import CareTeamMember
from portal.careplan.services import record_revision
from portal.db import utcnow
from portal.extensions import db
from portal.goals import inputs
from portal.goals import progress as calc
from portal.goals.chart import Chart, render
from portal.goals.measures import Measure, measure_for
from portal.goals.models import (
    Achievement,
    Goal,
    GoalMessage,
    GoalRead,
    GoalStatus,
    ProgressEntry,
    ProgressEntryRevision,
)

EDIT_WINDOW = timedelta(hours=24)
PAGE_ENTRIES = 20  # entries listed on the goal page
PAGE_MESSAGES = 100  # newest messages shown in a thread
HOME_REPLIES = 5
INBOX_LIMIT = 500
REVIEW_STATUSES = (GoalStatus.ACTIVE, GoalStatus.ON_HOLD, GoalStatus.COMPLETED)


class GoalError(ValueError):
    """An operation that cannot be done as asked; the message is for people."""


class IdempotencyConflict(GoalError):
    """The idempotency key was already used for a different entry."""


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


def _visible(access: Access) -> list[Any]:
    clauses = [Goal.patient_id == access.patient_id]
    if not access.sees_sensitive:
        clauses.append(Goal.sensitivity.is_(None))
    return clauses


def get_goal(access: Access, goal_id: int) -> Goal:
    """One goal of this patient that this access may see, else 404."""
    access.require(Scope.GOALS_READ)
    goal = db.session.scalar(select(Goal).where(Goal.id == goal_id, *_visible(access)))
    if goal is None:
        raise NotFound()
    return goal


def _entry_rows(goals: list[Goal], since: date) -> dict[int, list[tuple]]:
    """(date, value, done) per day since `since`, per goal, combined in the database.

    Several entries on one day are added up (or averaged, for measures like
    mood) by the query itself, so the cost follows the number of days shown,
    not the number of entries logged. One query for any number of goals.
    """
    rows: dict[int, list[tuple]] = {goal.id: [] for goal in goals}
    if not goals:
        return rows
    means = {goal.id for goal in goals if measure_for(goal.measure).daily == "mean"}
    result = db.session.execute(
        select(
            ProgressEntry.goal_id,
            ProgressEntry.entry_date,
            func.sum(ProgressEntry.value),
            func.count(ProgressEntry.value),
            func.max(case((ProgressEntry.done.is_(True), 1), else_=0)),
        )
        .where(
            ProgressEntry.goal_id.in_(rows),
            ProgressEntry.entry_date >= since,
            ProgressEntry.deleted_at.is_(None),
        )
        .group_by(ProgressEntry.goal_id, ProgressEntry.entry_date)
    )
    for goal_id, day, total, count, done in result:
        value = None if not count else Decimal(str(total))
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
        .where(*_visible(access))
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
    entries = _entry_rows(list(goals), today - timedelta(days=calc.HISTORY_DAYS))
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
    """What a goal page needs to know before it can use a kept rendering of itself."""

    goal_id: int
    revision: int  # new whenever the goal, its entries or its messages change
    last_read: int  # the newest message this reader had read (0: none)
    has_marker: bool


_GOAL_STATE = (
    select(Goal.id, Goal.revision, Goal.sensitivity, GoalRead.last_read_message_id)
    .outerjoin(GoalRead, (GoalRead.goal_id == Goal.id) & (GoalRead.user_id == bindparam("uid")))
    .where(Goal.id == bindparam("gid"), Goal.patient_id == bindparam("pid"))
)


def goal_state(access: Access, goal_id: int) -> GoalState:
    """The goal's revision and this reader's read marker, in one query; 404 like `get_goal`."""
    access.require(Scope.GOALS_READ)
    row = (
        db.session.connection()
        .execute(_GOAL_STATE, {"gid": goal_id, "pid": access.patient_id, "uid": access.actor_id})
        .first()
    )
    if row is None or (row.sensitivity is not None and not access.sees_sensitive):
        raise NotFound()
    marker = row.last_read_message_id
    return GoalState(row.id, row.revision, marker or 0, marker is not None)


@dataclass(frozen=True, slots=True)
class GoalFacts:
    """The few facts a kept goal page needs per request: when and by whom things were written.

    Fixed by the goal's revision (entries and messages change only with it),
    so they are kept with the page; the "ago" texts, unread marks and whether
    an entry can still be changed are worked out from them on every request.
    """

    messages: tuple[tuple[int, int | None, datetime], ...]  # (id, author, created_at)
    entries: tuple[tuple[int | None, datetime], ...]  # (created_by, created_at)

    @classmethod
    def of(cls, page: GoalPage) -> GoalFacts:
        return cls(
            tuple((m.id, m.author_id, m.created_at) for m in page.messages),
            tuple((e.created_by_id, e.created_at) for e in page.entries),
        )

    @property
    def newest_message(self) -> int:
        return self.messages[-1][0] if self.messages else 0

    def unread(self, actor_id: int, last_read: int) -> tuple[bool, ...]:
        return tuple(id_ > last_read and author != actor_id for id_, author, _ in self.messages)

    def changeable(self, actor_id: int, now: datetime) -> tuple[bool, ...]:
        """Per entry shown: whether this reader may still change it (their own, 24 hours)."""
        return tuple(by == actor_id and now - at < EDIT_WINDOW for by, at in self.entries)


def saw_goal(access: Access, state: GoalState, newest_message: int) -> None:
    """What reading a goal page does when its content is kept: mark read, audit."""
    if newest_message > state.last_read:
        marker = None
        if state.has_marker:
            marker = db.session.get(GoalRead, (access.actor_id, state.goal_id))
        _mark_read(access.actor_id, state.goal_id, newest_message, marker)
    audit.record(access, "read", "goal", state.goal_id)


def load_goal_page(
    access: Access, goal_id: int, *, mark_read: bool = True, record: bool = True
) -> GoalPage:
    """The goal with its chart, week, streak, recent entries and thread; marks it read.

    `record=False` when the caller has audited this read already (`saw_goal`).
    """
    goal = get_goal(access, goal_id)
    today = patient_today(access)
    rows = _entry_rows([goal], today - timedelta(days=calc.HISTORY_DAYS))[goal.id]
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
    wanted = {goal.proposed_by_id, goal.agreed_by_id}
    people = {i: known[i] for i in wanted if i in known}
    people.update(names(wanted - people.keys()))
    if mark_read and messages and messages[-1].id > last_read:
        _mark_read(access.actor_id, goal.id, messages[-1].id, marker)
    if record:
        audit.record(access, "read", "goal", goal.id)
    return GoalPage(
        goal, measure, prog, chart, entries, messages, last_read, people, today, access.actor_id
    )


def _mark_read(user_id: int, goal_id: int, message_id: int, marker: GoalRead | None) -> None:
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
            *_visible(access),
            GoalMessage.from_team.is_(True),
            GoalMessage.id > func.coalesce(marker.last_read_message_id, 0),
        )
        .order_by(GoalMessage.id.desc())
        .limit(HOME_REPLIES)
    ).all()
    audit.record(access, "read", "goal_thread", None)
    return HomeGoals(goals, [TeamReply(m, title) for m, title in rows])


# -- goals -------------------------------------------------------------------


def create_goal(access: Access, data: Mapping[str, Any]) -> Goal:
    """The patient writes their own goal, or a clinician proposes one for them to answer."""
    access.require(Scope.GOALS_READ)
    own = access.can(Scope.GOALS_WRITE)
    if not own and not access.can(Scope.GOALS_PROPOSE):
        raise AccessDenied(Scope.GOALS_WRITE)
    values = inputs.goal(data, patient_today(access))
    now = utcnow()
    goal = Goal(
        patient_id=access.patient_id,
        created_by_id=access.actor_id,
        updated_by_id=access.actor_id,
        proposed_by_id=access.actor_id,
        status=GoalStatus.ACTIVE if own else GoalStatus.PROPOSED,
        shared_with_team=own and inputs.yes(data.get("share")),
        **values,
    )
    db.session.add(goal)
    db.session.flush()
    verb = "Added" if own else "Suggested"
    record_revision(access, "goal", goal.id, "added", f"{verb} goal “{goal.title}”")
    if goal.shared_with_team:
        _patient_activity(access, goal, now)
    audit.record(access, "create", "goal", goal.id)
    return goal


def _require_patient_side(access: Access) -> None:
    access.require(Scope.GOALS_WRITE)


def answer_proposal(
    access: Access, goal_id: int, accept: bool, data: Mapping[str, Any] | None = None
) -> Goal:
    """The patient accepts (possibly in their own words) or declines a suggested goal."""
    _require_patient_side(access)
    goal = get_goal(access, goal_id)
    if goal.status is not GoalStatus.PROPOSED:
        raise GoalError("You have already answered this suggestion.")
    now = utcnow()
    if accept:
        changed = []
        if data is not None:
            values = inputs.goal(data, patient_today(access))
            changed = [k for k, v in values.items() if getattr(goal, k) != v]
            for name in changed:
                setattr(goal, name, values[name])
        goal.status = GoalStatus.ACTIVE
        goal.agreed_by_id, goal.agreed_at = access.actor_id, now
        summary = f"Agreed to goal “{goal.title}”" + (" with changes" if changed else "")
        action = "update"
    else:
        goal.status = GoalStatus.CANCELLED
        goal.note = str((data or {}).get("reason") or "")[:1000].strip()
        goal.awaiting_reply_since = None
        summary = f"Said no to the suggested goal “{goal.title}”"
        action = "decline"
    goal.updated_at, goal.updated_by_id = now, access.actor_id
    record_revision(access, "goal", goal.id, "changed", summary, sensitive=goal.sensitive)
    audit.record(access, action, "goal", goal.id)
    return goal


def update_goal(access: Access, goal_id: int, data: Mapping[str, Any]) -> Goal:
    """The patient changes the words, target or timing of one of their goals."""
    _require_patient_side(access)
    goal = get_goal(access, goal_id)
    if goal.status in (GoalStatus.PROPOSED, GoalStatus.CANCELLED):
        raise GoalError("This goal can't be changed now.")
    has_entries = db.session.scalar(
        select(ProgressEntry.id).where(ProgressEntry.goal_id == goal.id).limit(1)
    )
    values = inputs.goal(
        data, patient_today(access), measure_locked=goal.measure if has_entries else None
    )
    changed = [k for k, v in values.items() if getattr(goal, k) != v]
    if not changed:
        return goal
    for name in changed:
        setattr(goal, name, values[name])
    goal.updated_at, goal.updated_by_id = utcnow(), access.actor_id
    fields = ", ".join(name.replace("_", " ") for name in changed)
    record_revision(
        access,
        "goal",
        goal.id,
        "changed",
        f"Changed goal “{goal.title}”: {fields}",
        sensitive=goal.sensitive,
    )
    audit.record(access, "update", "goal", goal.id)
    return goal


def share_goal(access: Access, goal_id: int) -> Goal:
    """The patient asks their care team for their thoughts on one of their goals."""
    _require_patient_side(access)
    goal = get_goal(access, goal_id)
    if goal.status is GoalStatus.CANCELLED:
        raise GoalError("This goal was stopped, so it can't be shared.")
    if not goal.shared_with_team:
        goal.shared_with_team = True
        _patient_activity(access, goal, utcnow())
    audit.record(access, "share", "goal", goal.id)
    return goal


def review_goal(access: Access, goal_id: int, data: Mapping[str, Any]) -> Goal:
    """The team sets a goal's status and, where nothing is measured, its achievement."""
    access.require(Scope.GOALS_REVIEW)
    goal = get_goal(access, goal_id)
    if goal.status in (GoalStatus.PROPOSED, GoalStatus.CANCELLED):
        raise GoalError("Only goals the patient has taken on can be reviewed.")
    errors: dict[str, str] = {}
    status = _enum_choice(GoalStatus, data.get("status"), REVIEW_STATUSES)
    if status is None:
        errors["status"] = "Choose active, on hold or completed"
    achievement = goal.achievement
    raw = data.get("achievement")
    if raw not in (None, "") and not measure_for(goal.measure).numeric:
        achievement = _enum_choice(Achievement, raw, tuple(Achievement))
        if achievement is None:
            errors["achievement"] = "Choose how the goal is going"
    note = str(data.get("note") or "").strip()
    if len(note) > 2000:
        errors["note"] = "Keep the note under 2000 characters"
    if errors:
        raise inputs.Invalid(errors)
    changes = {}
    for name, value in (("status", status), ("achievement", achievement), ("note", note)):
        if getattr(goal, name) != value:
            changes[name] = [str(getattr(goal, name)), str(value)]
            setattr(goal, name, value)
    if data.get("agree") and goal.agreed_by_id is None:
        goal.agreed_by_id, goal.agreed_at = access.actor_id, utcnow()
        changes["agreed_by"] = ["", access.actor_name]
    if not changes:
        return goal
    goal.updated_at, goal.updated_by_id = utcnow(), access.actor_id
    if status is not GoalStatus.ACTIVE:
        goal.awaiting_reply_since = None
    fields = ", ".join(name.replace("_", " ") for name in changes)
    record_revision(
        access,
        "goal",
        goal.id,
        "changed",
        f"Reviewed goal “{goal.title}”: {fields}",
        changes,
        sensitive=goal.sensitive,
    )
    audit.record(access, "review", "goal", goal.id)
    return goal


def _enum_choice(cls, raw: Any, allowed: tuple) -> Any:
    try:
        value = cls(str(raw))
    except ValueError:
        return None
    return value if value in allowed else None


# -- progress entries --------------------------------------------------------


def _fingerprint(goal_id: int, data: Mapping[str, Any]) -> str:
    """The entry as first sent, normalised so a form and a JSON replay compare equal."""

    def norm(raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, bool):
            return raw
        number = inputs._decimal(raw)
        if number is not None:
            return f"{number.normalize():f}"
        if isinstance(raw, str):
            lowered = raw.strip().lower()
            if lowered in inputs.TRUE:
                return True
            if lowered in inputs.FALSE:
                return False
            return raw.strip()
        return repr(raw)

    names = ("value", "done", "note", "feeling", "entry_date")
    canonical = {"goal": goal_id, **{n: norm(data.get(n)) for n in names}}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _replay(access: Access, entry: ProgressEntry, fingerprint: str) -> ProgressEntry:
    if entry.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This entry was already saved with different details. Reload the page and log it again."
        )
    audit.record(access, "read", "progress_entry", entry.id)
    return entry


def _by_key(patient_id: int, key: str) -> ProgressEntry | None:
    return db.session.scalar(
        select(ProgressEntry).where(
            ProgressEntry.patient_id == patient_id, ProgressEntry.idempotency_key == key
        )
    )


def add_entry(
    access: Access, goal_id: int, data: Mapping[str, Any], key: Any
) -> tuple[ProgressEntry, bool]:
    """Log progress once per idempotency key; returns (entry, whether it is new).

    The same key with the same details returns the stored entry; with other
    details it is a conflict. Concurrent duplicates meet the unique constraint,
    and the loser returns the winner's entry.
    """
    access.require(Scope.GOALS_LOG)
    key = inputs.idempotency_key(key)
    goal = get_goal(access, goal_id)
    fingerprint = _fingerprint(goal.id, data)
    existing = _by_key(access.patient_id, key)
    if existing is not None:
        if existing.goal_id != goal.id:
            raise IdempotencyConflict("This key was already used for another goal.")
        return _replay(access, existing, fingerprint), False
    if goal.status is not GoalStatus.ACTIVE:
        raise GoalError("This goal is not active, so progress can't be logged on it.")
    today = patient_today(access)
    values = inputs.entry(measure_for(goal.measure), data, today)
    now = utcnow()
    entry = ProgressEntry(
        goal_id=goal.id,
        patient_id=access.patient_id,
        idempotency_key=key,
        fingerprint=fingerprint,
        created_at=now,
        created_by_id=access.actor_id,
        **asdict(values),
    )
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        winner = _by_key(access.patient_id, key)
        if winner is None or winner.goal_id != goal.id:
            raise IdempotencyConflict("This key was already used for another entry.") from None
        return _replay(access, winner, fingerprint), False
    refresh_achievement(goal, today)
    _patient_activity(access, goal, now)
    audit.record(access, "create", "progress_entry", entry.id)
    return entry, True


def get_entry(access: Access, goal_id: int, entry_id: int) -> ProgressEntry:
    """A live entry on a goal this access may see, else 404."""
    goal = get_goal(access, goal_id)
    entry = db.session.scalar(
        select(ProgressEntry).where(
            ProgressEntry.id == entry_id,
            ProgressEntry.goal_id == goal.id,
            ProgressEntry.deleted_at.is_(None),
        )
    )
    if entry is None:
        raise NotFound()
    return entry


def changeable_entry(access: Access, goal_id: int, entry_id: int) -> tuple[Goal, ProgressEntry]:
    """The goal and entry if this access may still change it (its own, within 24 hours)."""
    access.require(Scope.GOALS_LOG)
    entry = get_entry(access, goal_id, entry_id)
    if entry.created_by_id != access.actor_id:
        raise AccessDenied(Scope.GOALS_LOG)
    if utcnow() - entry.created_at >= EDIT_WINDOW:
        raise GoalError("You can change or delete an entry for 24 hours after logging it.")
    return db.session.get(Goal, entry.goal_id), entry


def _keep_revision(access: Access, entry: ProgressEntry, action: str) -> None:
    db.session.add(
        ProgressEntryRevision(
            entry_id=entry.id,
            action=action,
            actor_id=access.actor_id,
            entry_date=entry.entry_date,
            value=entry.value,
            done=entry.done,
            note=entry.note,
            feeling=entry.feeling,
        )
    )


def change_entry(
    access: Access, goal_id: int, entry_id: int, data: Mapping[str, Any]
) -> ProgressEntry:
    """Change one's own entry within 24 hours; the old version is kept."""
    goal, entry = changeable_entry(access, goal_id, entry_id)
    today = patient_today(access)
    values = inputs.entry(measure_for(goal.measure), data, today)
    _keep_revision(access, entry, "changed")
    for name, value in asdict(values).items():
        setattr(entry, name, value)
    entry.updated_at = utcnow()
    db.session.flush()
    refresh_achievement(goal, today)
    audit.record(access, "update", "progress_entry", entry.id)
    return entry


def delete_entry(access: Access, goal_id: int, entry_id: int) -> ProgressEntry:
    """Soft-delete one's own entry within 24 hours; it stays in the record."""
    goal, entry = changeable_entry(access, goal_id, entry_id)
    _keep_revision(access, entry, "deleted")
    entry.deleted_at = utcnow()
    db.session.flush()
    refresh_achievement(goal, patient_today(access))
    audit.record(access, "delete", "progress_entry", entry.id)
    return entry


def refresh_achievement(goal: Goal, today: date) -> None:
    """Measured goals: achievement follows the entries (the team sets it otherwise)."""
    measure = measure_for(goal.measure)
    if not measure.numeric or goal.status is not GoalStatus.ACTIVE:
        return
    rows = _entry_rows([goal], today - timedelta(days=14))[goal.id]
    goal.achievement = calc.achievement(
        measure, goal.target_value, goal.frequency, calc.by_day(measure, rows), today
    )


# -- notices to the team ----------------------------------------------------


def _patient_activity(access: Access, goal: Goal, now: datetime) -> None:
    """The patient did something on a goal: it waits for a reply; the team gets a digest."""
    if goal.awaiting_reply_since is None:
        goal.awaiting_reply_since = now
    team = db.session.scalars(
        select(CareTeamMember.user_id).where(
            CareTeamMember.patient_id == access.patient_id, CareTeamMember.ended_at.is_(None)
        )
    ).all()
    if not team:
        return
    bucket = now.strftime("%Y%m%d%H")
    try:
        # A savepoint: a digest another request wrote a moment ago must not undo the entry.
        with db.session.begin_nested():
            notifications.enqueue(
                "patient_activity",
                team,
                url=goal_path(access.patient_id, goal.id),
                patient_id=access.patient_id,
                dedupe_key=f"patient_activity:{access.patient_id}:{{user_id}}:{bucket}",
            )
    except IntegrityError:
        pass
