"""Progress entries: logged once per idempotency key, changed or deleted within 24 hours.

Services flush and audit; the request commits (portal/web.py). They receive the
`Access` (who acts, for whom, with which scopes) and never read the request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from portal import audit
from portal.access import Access, AccessDenied, Scope
from portal.db import utcnow
from portal.extensions import db
from portal.goals import inputs
from portal.goals import progress as calc
from portal.goals.lifecycle import GoalError, patient_activity
from portal.goals.measures import measure_for
from portal.goals.models import Goal, GoalStatus, ProgressEntry, ProgressEntryRevision
from portal.goals.reading import EDIT_WINDOW, entry_rows, get_goal, patient_today


class IdempotencyConflict(GoalError):
    """The idempotency key was already used for a different entry."""


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
    patient_activity(access, goal, now)
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
    rows = entry_rows([goal], today - timedelta(days=14))[goal.id]
    goal.achievement = calc.achievement(
        measure, goal.target_value, goal.frequency, calc.by_day(measure, rows), today
    )
