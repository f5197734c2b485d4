"""The issue's 'done when', server side: real API calls, the real deliverer, the stand-in.

Alex registers a device through the push API; Dr. Rivera replies on Alex's goal
through the goals API; the stand-in receives a correctly signed, encrypted
notice that names no health information. Alex's own entries reach the care
team as one digest per clinician per hour.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.goals.models import Goal, GoalStatus
from portal.notifications.delivery import Deliverer
from portal.notifications.models import Notification, PushSubscription
from tests.pushservice import PushService

REPLY = "Lovely progress on the walking, Alex. Try the park loop with your grandkids?"


@pytest.fixture
def push(app, monkeypatch):
    with PushService() as service:
        monkeypatch.setitem(app.config, "PUSH_SERVICE_HOSTS", service.origin)
        yield service
    assert service.errors == []


def alex_goal(app, patient_id: int) -> Goal:
    with app.app_context():
        goal = db.session.scalar(
            select(Goal)
            .where(Goal.patient_id == patient_id, Goal.status == GoalStatus.ACTIVE)
            .order_by(Goal.id)
        )
        db.session.expunge(goal)
        return goal


def test_a_care_team_reply_reaches_alex_without_health_information(app, demo, push):
    browser = push.new_subscription()
    alex = demo.login("alex@example.com")
    key = alex.get("/api/v1/push/vapid-public-key").get_json()["publicKey"]
    assert alex.api("POST", "/api/v1/push/subscriptions", json=browser.info).status_code == 201

    goal = alex_goal(app, demo.alex)
    rivera = demo.login("rivera@example.com")
    reply = rivera.api(
        "POST",
        f"/api/v1/patients/{demo.alex}/goals/{goal.id}/messages",
        json={"body": REPLY},
    )
    assert reply.status_code == 201, reply.get_json()

    with Deliverer(app, concurrency=2, timeout=5) as deliverer:
        assert deliverer.run_once().sent == 1
    [message] = push.wait_for(1)

    # Signed with the key the web app subscribed with, for this push service.
    assert message.headers["Authorization"].endswith(f"k={key}")
    assert message.jwt_claims["aud"] == push.origin
    assert push.rejections == []
    payload = json.loads(message.payload)
    assert payload["title"] == "New reply from your care team"
    assert payload["url"] == f"/p/{demo.alex}/goals/{goal.id}#latest"  # lands on the reply
    text = message.payload.decode().lower()
    for word in ["alex", "morgan", "rivera", goal.title, goal.why, REPLY, "walk", "park"]:
        assert word.lower() not in text, f"the notice names {word!r}"


def test_alex_logging_twice_gives_each_clinician_one_digest(app, demo, push):
    rivera_phone = push.new_subscription()
    rivera = demo.login("rivera@example.com")
    assert (
        rivera.api("POST", "/api/v1/push/subscriptions", json=rivera_phone.info).status_code == 201
    )
    goal = alex_goal(app, demo.alex)
    alex = demo.login("alex@example.com")
    for _ in range(2):
        logged = alex.api(
            "POST",
            f"/api/v1/patients/{demo.alex}/goals/{goal.id}/entries",
            json={"value": 20, "done": True},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert logged.status_code == 201, logged.get_json()
    with app.app_context():
        rows = db.session.scalars(
            select(Notification).where(Notification.kind == "patient_activity")
        ).all()
        team = {n.user_id for n in rows}
    assert len(rows) == len(team) > 1  # one per clinician on Alex's team, not one per entry

    with Deliverer(app, concurrency=2, timeout=5) as deliverer:
        deliverer.run_once()
    [message] = push.wait_for(1)
    assert json.loads(message.payload)["title"] == "New patient activity"
    assert "alex" not in message.payload.decode().lower()
    with app.app_context():
        assert db.session.scalar(select(PushSubscription.last_success_at)) is not None
