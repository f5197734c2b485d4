"""The clinicians' inbox: goals waiting for a team reply, oldest first, in fixed queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select

from portal.audit.models import AuditEvent
from portal.auth.models import Discipline
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from portal.goals.models import Goal, GoalCategory, GoalStatus
from portal.patients import Patient
from tests.conftest import text_of

RIVERA = "rivera@example.com"


def _panel_of_size(app, demo, size: int) -> None:
    """Give Dr. Rivera `size` extra patients, each with a goal waiting for a reply."""
    with app.app_context():
        extra = select(Patient.id).where(Patient.given_name.like("Inbox%"))
        db.session.execute(delete(Goal).where(Goal.patient_id.in_(extra)))
        db.session.execute(delete(CareTeamMember).where(CareTeamMember.patient_id.in_(extra)))
        db.session.execute(delete(Patient).where(Patient.given_name.like("Inbox%")))
        db.session.execute(
            insert(Patient),
            [{"given_name": f"Inbox{n}", "family_name": "Test"} for n in range(size)],
        )
        ids = db.session.scalars(extra).all()
        now = datetime.now(UTC)
        db.session.execute(
            insert(CareTeamMember),
            [
                {
                    "patient_id": pid,
                    "user_id": demo.users[RIVERA],
                    "role": "Primary care physician",
                    "discipline": Discipline.PRIMARY_CARE,
                }
                for pid in ids
            ],
        )
        db.session.execute(
            insert(Goal),
            [
                {
                    "patient_id": pid,
                    "title": f"Goal {n}",
                    "category": GoalCategory.OTHER,
                    "status": GoalStatus.ACTIVE,
                    "awaiting_reply_since": now - timedelta(minutes=n),
                }
                for n, pid in enumerate(ids)
            ],
        )
        db.session.commit()


def test_inbox_query_count_does_not_grow_with_the_panel(demo, app, count_queries):
    rivera = demo.login(RIVERA)
    counts = {}
    for size in (5, 200):
        _panel_of_size(app, demo, size)
        rivera.get("/clinic/inbox")  # warm the session row
        with count_queries() as counter:
            response = rivera.get("/clinic/inbox")
        assert response.status_code == 200
        assert text_of(response).count("Inbox") >= size
        counts[size] = counter.count
    assert counts[5] == counts[200], counts
    assert counts[200] <= 6, counts


@pytest.mark.parametrize("size", [5, 200])
def test_panel_awaiting_flag_is_one_query(demo, app, count_queries, size):
    rivera = demo.login(RIVERA)
    _panel_of_size(app, demo, 5)
    rivera.get("/clinic/")
    with count_queries() as small:
        rivera.get("/clinic/")
    _panel_of_size(app, demo, size)
    with count_queries() as counter:
        response = rivera.get("/clinic/")
    assert counter.count == small.count
    assert text_of(response).count("Awaiting reply") == size + 1  # and Alex's walk


def test_inbox_is_oldest_first_and_says_how_long(demo, app):
    _panel_of_size(app, demo, 3)
    text = text_of(demo.login(RIVERA).get("/clinic/inbox"))
    # Goal 2 has waited longest (2 minutes), then 1, then 0; Alex's walk waited 2 hours.
    order = [text.index(name) for name in ("Walk 30 minutes a day", "Goal 2", "Goal 1", "Goal 0")]
    assert order == sorted(order)
    assert "2 hours" in text


def test_inbox_shows_only_the_clinicians_own_panel(demo):
    chen = demo.login("chen@example.com")
    assert "Walk 30 minutes a day" not in text_of(chen.get("/clinic/inbox"))
    lee = demo.login("lee@example.com")
    assert "Walk 30 minutes a day" in text_of(lee.get("/clinic/inbox"))


def test_a_patient_message_puts_the_goal_back_in_the_inbox(demo, app):
    rivera = demo.login(RIVERA)
    with app.app_context():
        goal = db.session.scalar(select(Goal.id).where(Goal.measure == "minutes"))
    rivera.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Well done!"})
    assert "Walk 30 minutes a day" not in text_of(rivera.get("/clinic/inbox"))
    alex = demo.login("alex@example.com")
    alex.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Thanks!"})
    assert "Walk 30 minutes a day" in text_of(rivera.get("/clinic/inbox"))


def test_inbox_listing_is_audited_per_patient(demo, app):
    demo.login(RIVERA).get("/clinic/inbox")
    with app.app_context():
        listed = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_type == "goal_inbox", AuditEvent.patient_id == demo.alex)
        )
    assert listed == 1
