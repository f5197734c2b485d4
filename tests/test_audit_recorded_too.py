"""Issue 14's "Recorded too", end to end: each kind of event is in the trail, and it verifies.

What tests elsewhere already show (sign-in success and failure, throttled
sign-ins, sign-out, second factors set up, turned off and reset, care-team
changes, create-admin, refused attempts) is not repeated here but closed by
the last test, which does one of each and runs `audit verify` after them.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from portal.audit.models import AuditEvent
from portal.auth.models import AuthSession
from portal.caregivers.models import Grant
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, PortalClient
from tests.mailbox import smtp  # noqa: F401  (the fixture)
from tests.routes_caregivers import invite_form, sam_grant, scopes_form

ALEX, SAM, RIVERA = "alex@example.com", "sam@example.com", "rivera@example.com"
NEW_PASSWORD = "a long walk after every lunch"
INVITATION = re.compile(r"http://localhost(/invitation/[\w-]+)")
RESET = re.compile(r"http://localhost(/reset-password/[A-Za-z0-9_-]+)")
CONFIRM = re.compile(r"http://localhost(/account/email/confirm/[A-Za-z0-9_-]+)")


def _rows(app, *actions: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def _verifies(app) -> None:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def _client(app) -> PortalClient:
    app.test_client_class = PortalClient
    return app.test_client()


def test_caregiver_grants_given_changed_revoked_and_ended_are_in_the_trail(demo, app, smtp):  # noqa: F811
    alex = demo.login(ALEX)
    form = invite_form(demo)
    assert alex.submit(f"/p/{demo.alex}/people/invite", form).status_code == 302
    link = INVITATION.search(smtp.one_to(form["email"]).text).group(1)
    robin = _client(app)
    assert robin.get(link).status_code == 302
    account = {"name": "Robin Lane", "email": form["email"], "password": NEW_PASSWORD}
    assert robin.submit("/invitation/register", account).status_code == 302

    sam = sam_grant(demo)
    changed = alex.submit(f"/p/{demo.alex}/people/{sam['grant_id']}", scopes_form(demo))
    assert changed.status_code == 302
    assert alex.submit(f"/p/{demo.alex}/people/{sam['grant_id']}/revoke").status_code == 302
    with app.app_context():
        robin_grant = db.session.scalar(
            select(Grant.id)
            .where(Grant.patient_id == demo.alex, Grant.revoked_at.is_(None))
            .order_by(Grant.id.desc())
        )
    robin_id = _rows(app, "accept")[0].actor_id
    assert robin.submit(f"/p/{demo.alex}/step-down").status_code == 302

    rows = _rows(app, "invite", "accept", "change", "revoke", "step_down")
    assert [(r.action, r.object_type, r.patient_id) for r in rows] == [
        ("invite", "caregiver_invitation", demo.alex),
        ("accept", "caregiver_grant", demo.alex),  # the grant given
        ("change", "caregiver_grant", demo.alex),
        ("revoke", "caregiver_grant", demo.alex),
        ("step_down", "caregiver_grant", demo.alex),
    ]
    alex_id = demo.users[ALEX]
    assert [(r.actor_id, r.relation) for r in rows] == [
        (alex_id, "self"),
        (robin_id, "caregiver"),
        (alex_id, "self"),
        (alex_id, "self"),
        (robin_id, "caregiver"),
    ]
    assert rows[2].object_id == rows[3].object_id == sam["grant_id"]
    assert rows[1].object_id == rows[4].object_id == robin_grant
    assert [bool(r.session_id and r.client_addr) for r in rows] == [True] * 5
    _verifies(app)


def test_passwords_and_addresses_changed_are_in_the_trail(demo, app, smtp):  # noqa: F811
    alex = demo.login(ALEX)
    change = {"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}
    assert alex.submit("/account/password", change).status_code == 302

    asked = {"email": "alex.new@example.org", "current_password": NEW_PASSWORD}
    assert alex.submit("/account/email", asked).status_code == 302
    confirm = CONFIRM.search(smtp.one_to("alex.new@example.org").text).group(1)
    assert _client(app).submit(confirm).status_code == 302

    stranger = _client(app)  # a forgotten password, reset with the mailed link
    assert stranger.submit("/forgot-password", {"email": "alex.new@example.org"}).status_code == 200
    smtp.deliver()
    reset = [m for m in smtp.to("alex.new@example.org") if RESET.search(m.text)]
    assert stranger.get(RESET.search(reset[-1].text).group(1)).status_code == 302
    done = stranger.submit("/reset-password", {"password": "another walk, before dinner"})
    assert done.status_code == 302

    rows = _rows(app, "password_changed", "email_changed", "password_reset")
    alex_id = demo.users[ALEX]
    assert [(r.action, r.actor_id, r.object_id, r.patient_id) for r in rows] == [
        ("password_changed", alex_id, alex_id, None),
        ("email_changed", alex_id, alex_id, None),
        ("password_reset", alex_id, alex_id, None),
    ]
    _verifies(app)


def test_sessions_ended_every_way_are_in_the_trail(demo, app):
    here, there = demo.login(ALEX), demo.login(ALEX)
    assert here.submit("/account/devices/sign-out-others").status_code == 302
    assert there.get(f"/p/{demo.alex}/").status_code == 302
    rows = _rows(app, "sessions_ended", "session_revoked")
    assert [r.action for r in rows] == ["session_revoked", "sessions_ended"]

    idle = demo.login(RIVERA)  # a clinician's session left open past its idle time
    with app.app_context():
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == demo.users[RIVERA], AuthSession.revoked_at.is_(None))
            .values(last_seen_at=utcnow() - timedelta(hours=2))
        )
        db.session.commit()
    assert idle.get("/clinic/").status_code == 302
    [expired] = _rows(app, "session_expired")
    assert expired.actor_id == demo.users[RIVERA] and expired.object_type == "auth_session"
    _verifies(app)


def test_a_lead_clinician_given_is_a_privilege_in_the_trail(demo, app):
    rivera = demo.login(RIVERA)  # the lead of Alex's team
    add = {
        "user_id": demo.users["chen@example.com"],
        "role": "Covering physician",
        "discipline": "primary_care",
        "is_lead": "y",
    }
    assert rivera.submit(f"/p/{demo.alex}/team", add).status_code == 302
    rows = [r for r in _rows(app, "create", "make_lead") if r.object_type == "care_team_member"]
    assert [(r.action, r.object_type, r.patient_id) for r in rows] == [
        ("create", "care_team_member", demo.alex),
        ("make_lead", "care_team_member", demo.alex),
    ]
    assert rows[0].object_id == rows[1].object_id
    _verifies(app)


def test_one_of_every_kind_and_the_trail_still_verifies(demo, app):
    """Sign-ins, second factor, sessions, account disabled, team, privileges, refusals."""
    from portal.auth import mfa

    wrong = {"email": RIVERA, "password": "not the password"}
    assert _client(app).submit("/login", wrong).status_code == 422  # sign_in_failed
    alex = demo.login(ALEX)  # sign_in
    assert demo.login("chen@example.com").get(f"/p/{demo.alex}/plan").status_code == 404
    rivera = demo.login(RIVERA)
    shown = rivera.submit("/account/two-step/recovery-codes", {"current_password": DEMO_PASSWORD})
    assert shown.status_code == 200  # recovery_codes_renewed
    code = re.findall(r"<code>([a-z2-9-]{11})</code>", shown.get_data(as_text=True))[0]
    again = _client(app)
    assert again.submit("/login", {"email": RIVERA, "password": DEMO_PASSWORD}).status_code == 302
    assert again.submit("/login/code", {"code": code}).status_code == 302  # recovery_code_used
    with app.app_context():
        assert mfa.recovery_codes_left(demo.users[RIVERA]) == 9

    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create-admin",
            "--email=ops@example.org",
            "--name=Ops",
            f"--password={NEW_PASSWORD}",
        ]
    )
    assert result.exit_code == 0, result.output  # admin_created
    admin = demo.login("admin@example.com")
    assert admin.submit(f"/admin/accounts/{demo.users[ALEX]}/disable").status_code == 302
    assert alex.get(f"/p/{demo.alex}/").status_code == 302  # the session ended with it
    assert alex.submit("/logout").status_code in (302, 400)

    wanted = {
        "sign_in",
        "sign_in_failed",
        "refused",
        "recovery_codes_renewed",
        "recovery_code_used",
        "admin_created",
        "disable",
        "session_revoked",
    }
    found = {r.action for r in _rows(app, *wanted)}
    assert found == wanted
    [disabled] = _rows(app, "disable")
    assert (disabled.relation, disabled.object_type, disabled.object_id) == (
        "admin",
        "user",
        demo.users[ALEX],
    )
    assert disabled.session_id is not None  # chained and stamped like every other row
    _verifies(app)
