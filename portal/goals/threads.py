"""Goal threads: the care team answers the patient.

Every goal has a thread; the clinicians' inbox (`portal/clinic/inbox.py`)
lists goals whose patient wrote or logged since the team last replied (kept
in `goals.awaiting_reply_since`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal import audit, notifications
from portal.access import Access, Scope
from portal.db import utcnow
from portal.extensions import db
from portal.goals import inputs
from portal.goals.lifecycle import patient_activity
from portal.goals.models import GoalMessage, GoalRead
from portal.goals.reading import PAGE_MESSAGES, get_goal, goal_path, mark_thread_read
from portal.notifications.services import patient_recipients


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
    if access.is_caregiver:  # shown as "Sam Morgan · Caregiver for Alex Morgan"
        return f"Caregiver for {access.patient_name}"[:120]
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
        recipients = patient_recipients(
            access.patient_user_id, access.patient_id, sensitive=goal.sensitive
        )
        if recipients:
            notifications.enqueue(
                "goal_reply",
                recipients,
                url=goal_path(access.patient_id, goal.id) + "#latest",  # lands on the reply
                patient_id=access.patient_id,
            )
    else:
        patient_activity(access, goal, now)
    audit.record(access, "create", "goal_message", message.id)
    return message
