"""Demo goals: three weeks of Alex's walks with a thread, a suggestion, Blake's sleep log."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.db import utcnow
from portal.demo_context import Demo
from portal.extensions import db
from portal.goals import entries, lifecycle, reading
from portal.goals.models import Goal, GoalMessage, ProgressEntry

WALKS = [  # minutes walked, how Alex felt, a note: oldest first, one a day for three weeks
    (15, 2, "Only to the corner. Knees sore."),
    (20, 3, ""),
    (0, 2, "Rained all day."),
    (20, 3, ""),
    (25, 3, "Walked with my neighbour."),
    (15, 2, ""),
    (30, 4, "Made it to the park!"),
    (20, 3, ""),
    (25, 3, ""),
    (30, 4, "Grandkids came along."),
    (10, 2, "Tired after a bad night."),
    (25, 3, ""),
    (30, 4, ""),
    (35, 4, "Longest walk in years."),
    (30, 4, ""),
    (20, 3, "Cold out."),
    (30, 4, ""),
    (35, 5, "Felt great, took the long way."),
    (30, 4, ""),
    (25, 3, ""),
    (30, 4, "Park and back before lunch."),
]


def _entry(goal: Goal, user_id: int, day, minutes, feeling, note, at: datetime) -> None:
    db.session.add(
        ProgressEntry(
            goal_id=goal.id,
            patient_id=goal.patient_id,
            entry_date=day,
            value=Decimal(minutes),
            note=note,
            feeling=feeling,
            idempotency_key=str(uuid.uuid4()),
            fingerprint="demo",
            created_at=at,
            created_by_id=user_id,
        )
    )


def _message(goal: Goal, author, role: str, from_team: bool, body: str, at: datetime):
    message = GoalMessage(
        goal_id=goal.id,
        patient_id=goal.patient_id,
        author_id=author.id,
        author_name=author.name,
        author_role=role,
        from_team=from_team,
        body=body,
        created_at=at,
    )
    db.session.add(message)
    db.session.flush()
    goal.last_message_id = message.id
    return message


def _evening(day, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(18, 30), zone).astimezone(ZoneInfo("UTC"))


def alex_goals(demo: Demo) -> None:
    """Alex's walk: three weeks of entries, a thread, and today's entry awaiting a reply."""
    if demo.patient.given_name != "Alex":
        return
    alex, rivera = demo.users["alex@example.com"], demo.users["rivera@example.com"]
    walk = db.session.scalar(
        select(Goal).where(Goal.patient_id == demo.patient.id, Goal.measure == "minutes")
    )
    access = demo.access("alex@example.com")
    zone = reading.patient_zone(access)
    today = datetime.now(zone).date()
    start = today - timedelta(days=len(WALKS) - 1)
    for offset, (minutes, feeling, note) in enumerate(WALKS[:-1]):
        day = start + timedelta(days=offset)
        _entry(walk, alex.id, day, minutes, feeling, note, _evening(day, zone))
    _message(
        walk,
        alex,
        "Patient",
        False,
        "Made it to the park and back three times this week. My knees are better if I go slow.",
        _evening(start + timedelta(days=9), zone) + timedelta(minutes=5),
    )
    _message(
        walk,
        rivera,
        "Primary care physician",
        True,
        "That is great progress, Alex. Going slow is exactly right. The walking group at "
        "the library meets on Saturdays: https://example.org/walking-group",
        _evening(start + timedelta(days=10), zone) + timedelta(hours=14),
    )
    walk.last_team_reply_at = _evening(start + timedelta(days=10), zone) + timedelta(hours=14)
    _message(
        walk,
        alex,
        "Patient",
        False,
        "Went to the walking group. Nice people! Would a stick help with my knee?",
        _evening(start + timedelta(days=15), zone),
    )
    reply = _message(
        walk,
        rivera,
        "Primary care physician",
        True,
        "A walking stick can help. Hold it in the hand opposite the sore knee. Keep it up!",
        _evening(start + timedelta(days=16), zone) + timedelta(hours=13),
    )
    walk.last_team_reply_at = reply.created_at
    # The newest entry, logged an hour or two ago: it waits in the team's inbox.
    minutes, feeling, note = WALKS[-1]
    logged_at = utcnow() - timedelta(hours=2)
    _entry(walk, alex.id, today, minutes, feeling, note, logged_at)
    walk.awaiting_reply_since = logged_at
    db.session.flush()
    entries.refresh_achievement(walk, today)
    lifecycle.create_goal(
        demo.access("lee@example.com"),
        {
            "title": "Call a friend or family member twice a week",
            "why": "Talking with people you trust can lift your mood.",
            "category": "social",
            "measure": "done",
            "frequency": "weekly",
            "target_value": 2,
        },
    )


def blake_goals(demo: Demo) -> None:
    """Blake: a week and a half of sleep entries."""
    if demo.patient.given_name != "Blake":
        return
    blake = demo.users["blake@example.com"]
    sleep = db.session.scalar(select(Goal).where(Goal.patient_id == demo.patient.id))
    zone = reading.patient_zone(demo.access("blake@example.com"))
    today = datetime.now(zone).date()
    for offset, hours in enumerate(["6.5", "7", "5.5", "7.5", "6", "7", "8", "6.5", "7", "7.5"]):
        day = today - timedelta(days=10 - offset)
        db.session.add(
            ProgressEntry(
                goal_id=sleep.id,
                patient_id=sleep.patient_id,
                entry_date=day,
                value=Decimal(hours),
                feeling=3,
                idempotency_key=str(uuid.uuid4()),
                fingerprint="demo",
                created_at=_evening(day, zone) + timedelta(hours=14),
                created_by_id=blake.id,
            )
        )
    db.session.flush()
