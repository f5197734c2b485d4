"""Goal threads and the clinician inbox: the care team answers the patient.

Every goal has a thread; the inbox lists goals whose patient wrote or logged
since the team last replied (kept in `goals.awaiting_reply_since`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal import audit, notifications
from portal.access import Access, Relation, Scope
from portal.auth.models import User
from portal.careplan.models import CareTeamMember
from portal.db import utcnow
from portal.extensions import db
from portal.goals import inputs
from portal.goals.lifecycle import patient_activity
from portal.goals.models import Goal, GoalMessage, GoalRead, GoalStatus
from portal.goals.reading import INBOX_LIMIT, PAGE_MESSAGES, get_goal, goal_path, mark_thread_read
from portal.patients import Patient


def list_messages(access: Access, goal_id: int, limit: int = PAGE_MESSAGES) -> list[GoalMessage]:
    """A goal's thread, oldest first (the newest `limit` messages)."""
    access.require(Scope.MESSAGES)
    goal = get_goal(access, goal_id)
    messages = list(
        db.session.scalars(
            select(GoalMessage)
            .where(GoalMessage.goal_id == goal.id)
            .order_by(GoalMessage.id.desc())
            .limit(limit)
        )
    )
    messages.reverse()
    if messages:
        marker = db.session.get(GoalRead, (access.actor_id, goal.id))
        mark_thread_read(access.actor_id, goal.id, messages[-1].id, marker)
    audit.record(access, "read", "goal_thread", goal.id)
    return messages


def _role(access: Access) -> str:
    if access.is_care_team:
        return access.team_role or "Care team"
    if access.is_self:
        return "Patient"
    return access.relation.value.replace("_", " ").capitalize()


def post_message(access: Access, goal_id: int, body: Any) -> GoalMessage:
    """Add a message to a goal's thread; the other side is notified."""
    access.require(Scope.MESSAGES)
    goal = get_goal(access, goal_id)
    text = inputs.message(body)
    now = utcnow()
    message = GoalMessage(
        goal_id=goal.id,
        patient_id=access.patient_id,
        author_id=access.actor_id,
        author_name=access.actor_name,
        author_role=_role(access),
        from_team=access.is_care_team,
        body=text,
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    goal.last_message_id = message.id
    mark_thread_read(
        access.actor_id, goal.id, message.id, db.session.get(GoalRead, (access.actor_id, goal.id))
    )
    if access.is_care_team:
        goal.awaiting_reply_since = None
        goal.last_team_reply_at = now
        if access.patient_user_id is not None:
            notifications.enqueue(
                "goal_reply",
                [access.patient_user_id],
                url=goal_path(access.patient_id, goal.id),
                patient_id=access.patient_id,
            )
    else:
        patient_activity(access, goal, now)
    audit.record(access, "create", "goal_message", message.id)
    return message


@dataclass(frozen=True)
class InboxRow:
    goal_id: int
    goal_title: str
    patient_id: int
    patient_name: str
    waiting_since: datetime
    sensitive: bool
    last_message_id: int | None


def inbox(clinician: User) -> list[InboxRow]:
    """Goals across the clinician's panel waiting for a team reply, oldest first.

    One query (the denormalised `awaiting_reply_since` is indexed) and one
    audit insert, whatever the panel size.
    """
    items = _inbox_rows(clinician)
    _audit_inbox(clinician, items)
    return items


def _inbox_rows(clinician: User) -> list[InboxRow]:
    """The inbox's rows, NOT audited: `inbox()` is the way in (benchmarks measure this alone)."""
    rows = db.session.execute(
        select(
            Goal.id,
            Goal.title,
            Goal.patient_id,
            Patient.given_name,
            Patient.family_name,
            Goal.awaiting_reply_since,
            Goal.sensitivity,
            Goal.last_message_id,
        )
        .join(Patient, Patient.id == Goal.patient_id)
        .join(
            CareTeamMember,
            (CareTeamMember.patient_id == Goal.patient_id)
            & (CareTeamMember.user_id == clinician.id)
            & CareTeamMember.ended_at.is_(None),
        )
        .where(Goal.awaiting_reply_since.is_not(None), Goal.status != GoalStatus.CANCELLED)
        .order_by(Goal.awaiting_reply_since, Goal.id)
        .limit(INBOX_LIMIT)
    ).all()
    return [
        InboxRow(r[0], r[1], r[2], f"{r[3]} {r[4]}", r[5], r[6] is not None, r[7]) for r in rows
    ]


def _audit_inbox(clinician: User, items: list[InboxRow]) -> None:
    """One audit row per goal listed, written with the request's commit."""
    actor_id = clinician.id  # once: `clinician` may be the current_user proxy
    audit.record_rows(
        [
            {
                "actor_id": actor_id,
                "relation": Relation.CARE_TEAM.value,
                "patient_id": item.patient_id,
                "action": "list",
                "object_type": "goal_inbox",
                "object_id": item.goal_id,
            }
            for item in items
        ]
    )


def awaiting_patients(clinician_id: int) -> set[int]:
    """Patients on this clinician's panel with a goal waiting for a reply (one query)."""
    return set(
        db.session.scalars(
            select(Goal.patient_id)
            .join(
                CareTeamMember,
                (CareTeamMember.patient_id == Goal.patient_id)
                & (CareTeamMember.user_id == clinician_id)
                & CareTeamMember.ended_at.is_(None),
            )
            .where(Goal.awaiting_reply_since.is_not(None), Goal.status != GoalStatus.CANCELLED)
            .distinct()
        )
    )
