"""Progress entries: logged once per idempotency key, changed or deleted within 24 hours.

Services flush and audit; the request commits (portal/web.py). They receive the
`Access` (who acts, for whom, with which scopes) and never read the request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from werkzeug.exceptions import NotFound

from portal import audit, transaction
from portal.access import Access, AccessDenied, Scope
from portal.db import insert_ignoring_duplicates, json_rows, utcnow
from portal.extensions import db
from portal.goals import inputs
from portal.goals import progress as calc
from portal.goals.day_totals import day_total
from portal.goals.lifecycle import (
    TEAM_WITHOUT_DIGEST_EXISTS,
    GoalError,
    digest,
    digest_params,
    team_without_digest,
)
from portal.goals.measures import measure_for
from portal.goals.models import (
    Achievement,
    Goal,
    GoalDayTotal,
    GoalStatus,
    ProgressEntry,
    ProgressEntryRevision,
)
from portal.goals.reading import EDIT_WINDOW, entry_rows, get_goal, patient_today
from portal.prepared import Prepared

ACHIEVEMENT_DAYS = 14  # achievement compares the last week with the one before


class IdempotencyConflict(GoalError):
    """The idempotency key was already used for a different entry."""


class StoredEntry(NamedTuple):
    """An entry as logging stored or found it: its columns, read-only.

    Not an ORM object: nothing changes it after the INSERT, and building one
    (its instrumented state, an attribute event per column) took 29 us of an
    entry POST against 1 us for this. Its fields are `progress_entries`'
    columns, in order (checked below, so a new column cannot be forgotten here).
    """

    id: int
    goal_id: int
    patient_id: int
    entry_date: date
    value: Decimal | None
    done: bool | None
    note: str
    feeling: int | None
    idempotency_key: str
    fingerprint: str
    created_at: datetime
    created_by_id: int | None
    updated_at: datetime | None
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


if StoredEntry._fields != tuple(c.key for c in ProgressEntry.__table__.c):
    raise RuntimeError("StoredEntry must have progress_entries' columns, in order")


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


def _replay(access: Access, entry: StoredEntry, fingerprint: str) -> StoredEntry:
    if entry.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This entry was already saved with different details. Reload the page and log it again."
        )
    audit.record(access, "read", "progress_entry", entry.id)
    return entry


def _by_key(patient_id: int, key: str) -> StoredEntry | None:
    return _entry_of(_ENTRY_BY_KEY.first(transaction.connection(), {"pid": patient_id, "key": key}))


_ENTRY_COLUMNS = [c.label(f"e_{c.key}") for c in ProgressEntry.__table__.c]
# One statement reads all the POST needs: the goal; an entry already stored under
# this key; whether anyone on the team still lacks this hour's digest; and the
# goal's days in the achievement's two weeks, kept added up by the database
# (portal/goals/day_totals.py), as one JSON array. A separate read of the days
# cost the statement's own overhead; joining them repeated the goal's columns,
# and their conversions, once per day.
_WINDOW_DAYS = (
    select(json_rows(GoalDayTotal.entry_date, GoalDayTotal.total, GoalDayTotal.valued))
    .where(
        GoalDayTotal.goal_id == Goal.id,
        GoalDayTotal.entry_date >= bindparam("since"),
        GoalDayTotal.valued > 0,
    )
    .scalar_subquery()
)
_GOAL_AND_KEY = Prepared(
    select(
        Goal.id,
        Goal.status,
        Goal.measure,
        Goal.target_value,
        Goal.frequency,
        Goal.achievement,
        Goal.awaiting_reply_since,
        Goal.sensitivity,
        TEAM_WITHOUT_DIGEST_EXISTS.label("team_waiting"),
        _WINDOW_DAYS.label("window_days"),
        *_ENTRY_COLUMNS,
    )
    .outerjoin(
        ProgressEntry,
        (ProgressEntry.patient_id == Goal.patient_id)
        & (ProgressEntry.idempotency_key == bindparam("key")),
    )
    .where(Goal.id == bindparam("gid"), Goal.patient_id == bindparam("pid"))
)
_ENTRY_BY_KEY = Prepared(
    select(*_ENTRY_COLUMNS).where(
        ProgressEntry.patient_id == bindparam("pid"),
        ProgressEntry.idempotency_key == bindparam("key"),
    )
)
# INSERT ... ON CONFLICT (patient_id, idempotency_key) DO NOTHING RETURNING id, per database.
_INSERT_ENTRY = {
    dialect: Prepared(
        insert_ignoring_duplicates(ProgressEntry.__table__, dialect)
        .values(
            {c: bindparam(c.key, type_=c.type) for c in ProgressEntry.__table__.c if c.key != "id"}
        )
        .on_conflict_do_nothing(index_elements=["patient_id", "idempotency_key"])
        .returning(ProgressEntry.id)
    )
    for dialect in ("sqlite", "postgresql")
}


_GOAL_AFTER_ENTRY = Prepared(
    update(Goal)
    .where(Goal.id == bindparam("gid"))
    .values(
        achievement=bindparam("achievement", type_=Goal.__table__.c.achievement.type),
        awaiting_reply_since=func.coalesce(
            Goal.awaiting_reply_since,
            bindparam("now", type_=Goal.__table__.c.awaiting_reply_since.type),
        ),
    )
)


def _entry_of(row: Any) -> StoredEntry | None:
    if row is None or row.e_id is None:
        return None
    return StoredEntry._make(getattr(row, name) for name in _ENTRY_NAMES)


_ENTRY_NAMES = tuple(f"e_{name}" for name in StoredEntry._fields)


def _window_achievement(
    goal: Any, days: list[tuple[date, Any, int]], values: inputs.EntryValues, today: date
) -> Achievement:
    """The goal's (`_GOAL_AND_KEY`'s row) achievement with the new entry counted, from two
    weeks of kept days."""
    measure = measure_for(goal.measure)
    since = today - timedelta(days=ACHIEVEMENT_DAYS)
    sums = {day: [day_total(total), count] for day, total, count in days}
    if values.value is not None and values.entry_date >= since:
        total = sums.setdefault(values.entry_date, [Decimal(0), 0])
        total[0] += values.value
        total[1] += 1
    # Each kept day is already one total: its Day directly (calc.by_day would group
    # rows that are already grouped, half of this function's time).
    mean = measure.daily == "mean"
    by_day = {
        day: calc.Day(day, total / count if mean else total, False, True)
        for day, (total, count) in sums.items()
    }
    return calc.achievement(measure, goal.target_value, goal.frequency, by_day, today)


def add_entry(
    access: Access, goal_id: int, data: Mapping[str, Any], key: Any
) -> tuple[StoredEntry, bool]:
    """Log progress once per idempotency key; returns (entry, whether it is new).

    The same key with the same details returns the stored entry; with other
    details it is a conflict. Every read comes before the first write, and the
    writes are single statements: no ORM flush, no savepoint. On SQLite the
    write lock is taken by the entry's INSERT, a few statements before the
    commit. Concurrent duplicates meet the unique constraint (`ON CONFLICT DO
    NOTHING`), and the loser answers with the winner's entry.

    Two entries on one goal at the same instant each count the other's absence
    in `achievement`; the next entry, change or deletion sets it right.
    """
    access.require(Scope.GOALS_LOG)
    access.require(Scope.GOALS_READ)
    key = inputs.idempotency_key(key)
    now = utcnow()
    today = patient_today(access)
    params = {
        "gid": goal_id,
        "key": key,
        "since": today - timedelta(days=ACHIEVEMENT_DAYS),
        **digest_params(access.patient_id, now),
    }
    connection = transaction.connection()
    row = _GOAL_AND_KEY.first(connection, params)
    if row is None or (row.sensitivity is not None and not access.sees_sensitive):
        raise NotFound()
    goal = row  # the goal's columns, read with the key check (a named tuple)
    fingerprint = _fingerprint(goal.id, data)
    existing = _entry_of(row)
    if existing is not None:
        if existing.goal_id != goal.id:
            raise IdempotencyConflict("This key was already used for another goal.")
        return _replay(access, existing, fingerprint), False
    if goal.status is not GoalStatus.ACTIVE:
        raise GoalError("This goal is not active, so progress can't be logged on it.")
    measure = measure_for(goal.measure)
    values = inputs.entry(measure, data, today)
    achievement = goal.achievement
    if measure.numeric:
        days = [(date.fromisoformat(d), total, n) for d, total, n in row.window_days or ()]
        achievement = _window_achievement(goal, days, values, today)
    # The team members still without this hour's digest: read only for the hour's first.
    team = team_without_digest(access.patient_id, now) if row.team_waiting else []
    # The digest first: it writes only for the hour's first activity, and a
    # retried entry shares the first one's digest (same key), so it needs no
    # undoing if this turns out to be a retry.
    digest(access, goal.id, team, now)
    fields = {
        "goal_id": goal.id,
        "patient_id": access.patient_id,
        "entry_date": values.entry_date,
        "value": values.value,
        "done": values.done,
        "note": values.note,
        "feeling": values.feeling,
        "idempotency_key": key,
        "fingerprint": fingerprint,
        "created_at": now,
        "created_by_id": access.actor_id,
        "updated_at": None,
        "deleted_at": None,
    }
    entry_id = _INSERT_ENTRY[connection.dialect.name].scalar(connection, fields)
    if entry_id is None:
        winner = _by_key(access.patient_id, key)
        if winner is None or winner.goal_id != goal.id:
            raise IdempotencyConflict("This key was already used for another entry.")
        return _replay(access, winner, fingerprint), False
    if achievement != goal.achievement or goal.awaiting_reply_since is None:
        _GOAL_AFTER_ENTRY.execute(
            connection, {"gid": goal.id, "achievement": achievement, "now": now}
        )
    audit.record(access, "create", "progress_entry", entry_id)
    return StoredEntry(entry_id, **fields), True


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
    rows = entry_rows([goal], today - timedelta(days=ACHIEVEMENT_DAYS))[goal.id]
    goal.achievement = calc.achievement(
        measure, goal.target_value, goal.frequency, calc.by_day(measure, rows), today
    )
