"""'Who has seen my information': the patient reads the trail in plain words."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.audit.history import access_history
from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import text_of

ALEX, RIVERA, LEE = "alex@example.com", "rivera@example.com", "lee@example.com"


def test_alex_finds_dr_rivera_looking_at_his_plan(demo, app):
    rivera = demo.login(RIVERA)
    for _ in range(3):  # one visit
        assert rivera.get(f"/p/{demo.alex}/plan").status_code == 200
    rivera.get("/clinic/inbox")
    alex = demo.login(ALEX)
    alex.get(f"/p/{demo.alex}/plan")  # his own views are not listed
    page = text_of(alex.get(f"/p/{demo.alex}/who-has-seen"))
    assert "Dr. Riley Rivera, primary care, looked at your care plan (3 times in one visit)" in page
    assert "Dr. Riley Rivera, primary care, saw you in their inbox" in page
    assert "Alex Morgan," not in page
    # Newest first: the inbox came after the plan.
    assert page.index("saw you in their inbox") < page.index("looked at your care plan")


def test_filter_by_person_and_period(demo, app):
    demo.login(RIVERA).get(f"/p/{demo.alex}/plan")
    demo.login(LEE).get(f"/p/{demo.alex}/plan")
    alex = demo.login(ALEX)
    url = f"/p/{demo.alex}/who-has-seen"
    only_lee = text_of(alex.get(url, query_string={"person": demo.users[LEE]}))
    assert "Jordan Lee" in only_lee and "Dr. Riley Rivera, primary care, looked" not in only_lee
    today = utcnow().date()
    old = {"since": str(today - timedelta(days=30)), "until": str(today - timedelta(days=2))}
    assert "Nobody has opened your information in this period" in text_of(
        alex.get(url, query_string=old)
    )
    yesterday = str(today - timedelta(days=1))
    backwards = alex.get(url, query_string={"since": str(today), "until": yesterday})
    assert backwards.status_code == 422
    assert "on or after the “from” date" in text_of(backwards)
    assert alex.get(url, query_string={"since": "not a date"}).status_code == 422


def test_the_care_team_does_not_read_the_patients_access_log(demo, app):
    assert demo.login(RIVERA).get(f"/p/{demo.alex}/who-has-seen").status_code == 403
    assert demo.login("chen@example.com").get(f"/p/{demo.alex}/who-has-seen").status_code == 404


def test_pages_and_one_actor(demo, app):
    rivera = demo.login(RIVERA)
    with app.app_context():
        first = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()))
    for _ in range(3):
        rivera.get(f"/p/{demo.alex}/plan")
        rivera.get(f"/p/{demo.alex}/team")
        rivera.get(f"/p/{demo.alex}/plan/history")
    with app.app_context():
        full = access_history(demo.alex, per_page=2)
        assert len(full.lines) == 2 and full.has_older
        rest = access_history(demo.alex, per_page=2, page=2)
        assert rest.lines[0] != full.lines[0]
        top = [(line.action, line.object_type, line.times) for line in full.lines + rest.lines]
        mine = access_history(demo.alex, actor_id=demo.users[LEE])  # a caregiver's own part
    assert top == [
        ("read", "plan_history", 3),
        ("read", "care_team", 3),
        ("read", "care_plan", 3),
        top[3],
    ]
    assert mine.lines and {line.actor_id for line in mine.lines} == {demo.users[LEE]}
    assert first is not None


def test_a_refused_attempt_is_shown_to_the_patient(demo, app):
    demo.login("chen@example.com").get(f"/p/{demo.alex}/plan")
    page = text_of(demo.login(ALEX).get(f"/p/{demo.alex}/who-has-seen"))
    assert "Dr. Casey Chen" in page and "was turned away" in page
