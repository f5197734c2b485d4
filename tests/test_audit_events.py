"""What the trail records besides reads: refused attempts, sign-ins, sessions, team changes."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, PortalClient, text_of

RIVERA, LEE, CHEN = "rivera@example.com", "lee@example.com", "chen@example.com"


def _events(app, **where) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def _member(app, patient_id: int, user_id: int) -> CareTeamMember:
    with app.app_context():
        member = db.session.scalars(
            select(CareTeamMember).where(
                CareTeamMember.patient_id == patient_id, CareTeamMember.user_id == user_id
            )
        ).one()
        db.session.expunge_all()
        return member


def test_an_off_team_clinician_refused_on_alexs_plan_is_in_the_trail(demo, app):
    chen = demo.login(CHEN)
    assert chen.get(f"/p/{demo.alex}/plan").status_code == 404
    [refused] = _events(app, action="refused")
    assert refused.actor_id == demo.users[CHEN]
    assert refused.patient_id == demo.alex  # the record exists: it is named
    assert refused.relation == "none" and refused.object_type == "http_404"
    assert refused.path == f"GET /p/{demo.alex}/plan"
    assert refused.session_id is not None and refused.client_addr == "127.0.0.1"
    assert refused.at is not None


def test_a_probe_of_a_made_up_record_names_no_patient(demo, app):
    chen = demo.login(CHEN)
    assert chen.get("/p/987654/plan?q=Alex+Morgan").status_code == 404
    [refused] = _events(app, action="refused")
    assert refused.patient_id is None
    assert refused.path == "GET /p/987654/plan"  # never the query string


def test_a_refused_change_is_recorded_and_changes_nothing(demo, app):
    lee = demo.login(LEE)  # on Alex's team, not its lead
    before = _member(app, demo.alex, demo.users["brooks@example.com"])
    url = f"/p/{demo.alex}/team/{before.id}/remove"
    assert lee.submit(url).status_code == 403
    assert _member(app, demo.alex, demo.users["brooks@example.com"]).ended_at is None
    [refused] = _events(app, action="refused")
    assert (refused.actor_id, refused.relation, refused.object_type) == (
        demo.users[LEE],
        "care_team",
        "http_403",
    )
    assert refused.path == f"POST {url}"


def test_only_the_lead_clinician_adds_or_removes_team_members(demo, app):
    lee = demo.login(LEE)
    page = text_of(lee.get(f"/p/{demo.alex}/team"))
    assert "Only the lead clinician (Dr. Riley Rivera) adds or removes people" in page
    assert "Add someone to the team" not in page
    add = {"user_id": demo.users[CHEN], "role": "Covering physician", "discipline": "primary_care"}
    assert lee.submit(f"/p/{demo.alex}/team", add).status_code == 403

    rivera = demo.login(RIVERA)  # the lead
    assert "Add someone to the team" in text_of(rivera.get(f"/p/{demo.alex}/team"))
    assert rivera.submit(f"/p/{demo.alex}/team", add).status_code == 302
    chen = _member(app, demo.alex, demo.users[CHEN])
    assert chen.ended_at is None and not chen.is_lead
    assert rivera.submit(f"/p/{demo.alex}/team/{chen.id}/remove").status_code == 302
    assert _member(app, demo.alex, demo.users[CHEN]).ended_at is not None
    changes = [(e.action, e.object_id) for e in _events(app, object_type="care_team_member")]
    assert changes == [("create", chen.id), ("retire", chen.id)]


def test_the_only_lead_cannot_be_removed(demo, app):
    rivera = demo.login(RIVERA)
    own = _member(app, demo.alex, demo.users[RIVERA])
    response = rivera.submit(f"/p/{demo.alex}/team/{own.id}/remove", follow_redirects=True)
    assert "only lead clinician. Add another lead first." in text_of(response), text_of(response)
    assert _member(app, demo.alex, demo.users[RIVERA]).ended_at is None


def test_sign_in_success_failure_and_sign_out_are_recorded(demo, app):
    client = demo.login("alex@example.com")
    [signed_in] = _events(app, action="sign_in")
    assert signed_in.actor_id == demo.users["alex@example.com"]
    # About the account (two-step sign-in's rows are too), naming the session it starts.
    assert (signed_in.object_type, signed_in.object_id) == ("account", signed_in.actor_id)
    assert signed_in.session_id is not None

    wrong = {"email": RIVERA, "password": "not-the-password"}
    assert PortalClient(app).submit("/login", wrong).status_code == 422
    unknown = {"email": "nobody@example.com", "password": DEMO_PASSWORD}
    assert PortalClient(app).submit("/login", unknown).status_code == 422
    failed = _events(app, action="sign_in_failed")
    assert [e.actor_id for e in failed] == [demo.users[RIVERA], None]
    assert all(e.client_addr == "127.0.0.1" for e in failed)

    assert client.submit("/logout").status_code == 302
    [out] = _events(app, action="sign_out")
    assert (out.actor_id, out.session_id) == (demo.users["alex@example.com"], signed_in.session_id)


def test_a_throttled_sign_in_is_recorded_though_the_request_rolls_back(demo, app):
    app.config.update(LOGIN_SLOW_AFTER=1, LOGIN_LOCK_AFTER=2)
    try:
        wrong = {"email": RIVERA, "password": "not-the-password"}
        client = PortalClient(app)
        statuses = [client.submit("/login", wrong).status_code for _ in range(4)]
    finally:
        app.config.update(LOGIN_SLOW_AFTER=3, LOGIN_LOCK_AFTER=8)
    assert 429 in statuses, statuses
    throttled = _events(app, action="sign_in_throttled")
    assert len(throttled) == statuses.count(429)
    assert throttled[0].actor_id is None  # the trail does not say whether the account exists
