"""A goal's life: written or proposed, agreed or declined, changed, shared, reviewed.

Services flush and audit; the request commits (portal/web.py). They receive the
`Access` (who acts, for whom, with which scopes) and never read the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, exists, select

from portal import audit, notifications, transaction
from portal.access import Access, AccessDenied, Scope, care_team_of
from portal.careplan.models import CareTeamMember
from portal.careplan.services import record_revision
from portal.db import utcnow
from portal.extensions import db
from portal.goals import inputs
from portal.goals.measures import measure_for
from portal.goals.models import Achievement, Goal, GoalStatus, ProgressEntry
from portal.goals.reading import get_goal, goal_path, patient_today
from portal.notifications.models import Notification

REVIEW_STATUSES = (GoalStatus.ACTIVE, GoalStatus.ON_HOLD, GoalStatus.COMPLETED)


class GoalError(ValueError):
    """An operation that cannot be done as asked; the message is for people."""


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
        patient_activity(access, goal, now)
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
        patient_activity(access, goal, utcnow())
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


# -- notices to the team ----------------------------------------------------


def patient_activity(access: Access, goal: Goal, now: datetime) -> None:
    """The patient did something on a goal: it waits for a reply; the team gets a digest."""
    if goal.awaiting_reply_since is None:
        goal.awaiting_reply_since = now
    team = db.session.scalars(
        select(CareTeamMember.user_id).where(care_team_of(access.patient_id))
    ).all()
    digest(access, goal.id, team, now)


# The digest's key: one per patient, clinician and hour (the outbox collapses repeats).
DIGEST_KEY = "patient_activity:{patient_id}:{user_id}:{bucket}"
_TEAM_WITHOUT_DIGEST = (
    select(CareTeamMember.user_id)
    .outerjoin(
        Notification,
        Notification.dedupe_key
        == bindparam("prefix", type_=String)
        + cast(CareTeamMember.user_id, String)
        + bindparam("suffix", type_=String),
    )
    .where(care_team_of(bindparam("pid")), Notification.id.is_(None))
)


# Whether anyone on the team still lacks this hour's digest, as a column: a
# caller's own read can carry it (the entry POST's), and the list is read only
# when it is true, for the hour's first activity.
TEAM_WITHOUT_DIGEST_EXISTS = exists(_TEAM_WITHOUT_DIGEST)


def digest_params(patient_id: int, now: datetime) -> dict[str, object]:
    """The bound values of `_TEAM_WITHOUT_DIGEST` (and `TEAM_WITHOUT_DIGEST_EXISTS`)."""
    prefix, _, suffix = DIGEST_KEY.format(
        patient_id=patient_id, user_id="|", bucket=now.strftime("%Y%m%d%H")
    ).partition("|")
    return {"pid": patient_id, "prefix": prefix, "suffix": suffix}


def team_without_digest(patient_id: int, now: datetime) -> list[int]:
    """The active team members with no digest of this patient's activity this hour: one query."""
    params = digest_params(patient_id, now)
    return transaction.connection().execute(_TEAM_WITHOUT_DIGEST, params).scalars().all()


def digest(access: Access, goal_id: int, team: list[int], now: datetime) -> None:
    """Queue the team's hourly digest of this patient's activity (once per clinician and hour).

    No savepoint: `enqueue` inserts with ON CONFLICT DO NOTHING, so a digest
    another request wrote a moment ago cannot fail this transaction.
    """
    if not team:
        return
    bucket = now.strftime("%Y%m%d%H")
    notifications.enqueue(
        "patient_activity",
        team,
        url=goal_path(access.patient_id, goal_id),
        patient_id=access.patient_id,
        dedupe_key=DIGEST_KEY.format(
            patient_id=access.patient_id, user_id="{user_id}", bucket=bucket
        ),
    )
