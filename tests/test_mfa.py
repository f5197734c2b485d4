"""Two-step sign-in: a password alone opens nothing for a clinician; codes, recovery, replay."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.audit.models import AuditEvent
from portal.auth import mfa
from portal.auth.demo import DEMO_TOTP_SECRET
from portal.auth.mfa_models import RecoveryCode, TotpCredential
from portal.auth.models import AuthSession, User, UserKind
from portal.auth.services import create_user
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, PortalClient, text_of

RIVERA = "rivera@example.com"


def _client(app) -> PortalClient:
    app.test_client_class = PortalClient
    return app.test_client()


def _password_only(app, email: str):
    client = _client(app)
    response = client.submit("/login", {"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    return client, response.headers["Location"]


def _code(secret: str = DEMO_TOTP_SECRET, offset: int = 0) -> str:
    return mfa.totp(secret).at(utcnow() + timedelta(seconds=offset))


def _actions(app, user_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_type == "account", AuditEvent.object_id == user_id)
                .order_by(AuditEvent.id)
            )
        )


def test_a_password_alone_opens_nothing_for_a_clinician(demo):
    client, location = _password_only(demo.app, RIVERA)
    assert location.endswith("/login/code")
    page = client.get("/login/code")
    assert page.status_code == 200
    assert 'name="code"' in page.get_data(as_text=True)  # the contract in DESIGN.md
    assert 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    # No patient page, no panel, no inbox, no API: as to a stranger.
    for url in (f"/p/{demo.alex}/plan", f"/p/{demo.alex}/goals", "/clinic/", "/clinic/inbox"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    api = client.get(f"/api/v1/patients/{demo.alex}/goals")
    assert api.status_code == 401 and api.get_json() == {"error": "Sign in first."}
    # The code from the authenticator app finishes sign-in.
    done = client.submit("/login/code", {"code": _code()})
    assert done.status_code == 302 and done.headers["Location"].endswith("/clinic/")
    assert client.get(f"/p/{demo.alex}/plan").status_code == 200
    assert client.get(f"/api/v1/patients/{demo.alex}/goals").status_code == 200
    assert _actions(demo.app, demo.users[RIVERA])[-1] == "sign_in"


def test_the_session_token_changes_when_the_second_step_is_done(demo):
    client, _ = _password_only(demo.app, RIVERA)
    with client.session_transaction() as cookie:
        half = cookie["sid"]
    client.submit("/login/code", {"code": _code()})
    with client.session_transaction() as cookie:
        assert cookie["sid"] != half
    # The half-way token is worth nothing now.
    thief = _client(demo.app)
    with thief.session_transaction() as cookie:
        cookie["sid"] = half
    assert thief.get("/login/code").status_code == 302
    assert thief.get("/clinic/").status_code == 302


def test_a_wrong_code_is_refused_and_the_same_code_works_once(demo):
    client, _ = _password_only(demo.app, RIVERA)
    wrong = client.submit("/login/code", {"code": "000000" if _code() != "000000" else "111111"})
    assert wrong.status_code == 422 and "not right" in text_of(wrong)
    code = _code()
    assert client.submit("/login/code", {"code": code}).status_code == 302
    # Someone who saw the code over her shoulder, with her password, a second later:
    other, _ = _password_only(demo.app, RIVERA)
    replay = other.submit("/login/code", {"code": code})
    assert replay.status_code == 422
    assert other.get("/clinic/").status_code == 302
    # The app's next code works (codes for the step after now are accepted: clocks drift).
    assert other.submit("/login/code", {"code": _code(offset=30)}).status_code == 302
    assert "second_factor_failed" in _actions(demo.app, demo.users[RIVERA])


def test_wrong_codes_are_throttled(demo, app):
    client, _ = _password_only(demo.app, RIVERA)
    right = _code()
    wrong = next(c for c in ("123456", "654321", "111111") if c != right)
    for _ in range(app.config["LOGIN_SLOW_AFTER"]):
        assert client.submit("/login/code", {"code": wrong}).status_code == 422
    refused = client.submit("/login/code", {"code": right})
    assert refused.status_code == 429 and "try again in" in text_of(refused)
    assert int(refused.headers["Retry-After"]) > 0


def test_a_sign_in_left_half_done_expires(demo, app):
    client, _ = _password_only(demo.app, RIVERA)
    with app.app_context():
        db.session.execute(update(AuthSession).values(created_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
    late = client.submit("/login/code", {"code": _code()})
    assert late.status_code == 302 and late.headers["Location"].endswith("/login")
    assert client.get("/clinic/").status_code == 302


def test_a_session_without_its_second_factor_is_refused_everywhere(demo, app):
    """Enforced by the session check itself: also sessions made before the rule existed."""
    client = demo.login(RIVERA)
    assert client.get("/clinic/").status_code == 200
    with app.app_context():
        db.session.execute(update(AuthSession).values(second_factor_at=None))
        db.session.commit()
    assert client.get("/clinic/").status_code == 302
    assert client.get(f"/api/v1/patients/{demo.alex}/goals").status_code == 401


def _new_clinician(app) -> tuple[int, str]:
    with app.app_context():
        user = create_user("new.doctor@example.com", DEMO_PASSWORD, "Dr. New", UserKind.CLINICIAN)
        db.session.commit()
        return user.id, user.email


def _setup_secret(page) -> str:
    html = page.get_data(as_text=True)
    assert 'src="data:image/svg+xml' in html  # the QR code, drawn on the server
    assert "<script" not in html.split("<main", 1)[-1] and "style=" not in html
    return re.search(r'<code class="secret" id="secret">([A-Z2-7 ]+)</code>', html)[1].replace(
        " ", ""
    )


def test_a_clinician_without_a_second_factor_sets_one_up_first(demo, app):
    user_id, email = _new_clinician(app)
    client, location = _password_only(app, email)
    assert location.endswith("/login/setup")
    assert client.get("/clinic/").status_code == 302  # nothing before the set-up
    assert client.get("/login/code").headers["Location"].endswith("/login/setup")
    page = client.get("/login/setup")
    assert page.status_code == 200
    secret = _setup_secret(page)
    assert client.get("/login/setup").status_code == 200
    assert _setup_secret(client.get("/login/setup")) == secret  # a reload keeps the same key
    assert client.submit("/login/setup", {"code": "000000"}).status_code in (422, 200)
    shown = client.submit("/login/setup", {"code": mfa.totp(secret).now()})
    assert shown.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", shown.get_data(as_text=True))
    assert len(set(codes)) == 10
    assert client.get("/clinic/").status_code == 200  # signed in now
    with app.app_context():
        stored = set(db.session.scalars(select(RecoveryCode.code_hash)))
        credential = db.session.get(TotpCredential, user_id)
        assert DEMO_TOTP_SECRET not in credential.secret_sealed
        assert secret not in credential.secret_sealed  # sealed at rest
    assert not stored & {c.replace("-", "") for c in codes}  # only hashes kept
    assert "mfa_enrolled" in _actions(app, user_id)
    # A recovery code signs in once instead of the app's code.
    again, _ = _password_only(app, email)
    assert again.get("/login/code?recovery=1").status_code == 200
    assert again.submit("/login/code", {"code": codes[0].upper()}).status_code == 302
    third, _ = _password_only(app, email)
    assert third.submit("/login/code", {"code": codes[0]}).status_code == 422
    assert third.submit("/login/code", {"code": codes[1]}).status_code == 302


def test_mfa_can_be_made_optional_for_everyone(demo, app, monkeypatch):
    monkeypatch.setitem(app.config, "MFA_REQUIRED", False)
    _user_id, email = _new_clinician(app)
    client, location = _password_only(app, email)
    assert location.endswith("/clinic/")
    assert client.get("/clinic/").status_code == 200


def test_a_patient_chooses_two_step_sign_in_and_turns_it_off_with_the_password(demo, app):
    alex = demo.login("alex@example.com")
    assert "Off." in text_of(alex.get("/account/two-step"))
    secret = _setup_secret(alex.get("/account/two-step/setup"))
    shown = alex.submit("/account/two-step/setup", {"code": mfa.totp(secret).now()})
    assert shown.status_code == 200 and "recovery codes" in text_of(shown)
    assert "10 unused recovery codes" in text_of(alex.get("/account/two-step"))
    # Signing in now asks for the code.
    client, location = _password_only(app, "alex@example.com")
    assert location.endswith("/login/code")
    assert client.get(f"/p/{demo.alex}/").status_code == 302
    # Turning it off needs the current password.
    wrong = alex.submit("/account/two-step/off", {"current_password": "not my password"})
    assert wrong.status_code == 422 and "not right" in text_of(wrong)
    off = alex.submit("/account/two-step/off", {"current_password": DEMO_PASSWORD})
    assert off.status_code == 302
    assert "Off." in text_of(alex.get("/account/two-step"))
    _client, location = _password_only(app, "alex@example.com")
    assert not location.endswith("/login/code")
    assert "mfa_disabled" in _actions(app, demo.users["alex@example.com"])


def test_a_clinician_cannot_turn_two_step_sign_in_off(demo):
    rivera = demo.login(RIVERA)
    assert "cannot be turned off" in text_of(rivera.get("/account/two-step/off"))
    refused = rivera.submit("/account/two-step/off", {"current_password": DEMO_PASSWORD})
    assert refused.status_code == 403
    assert mfa_enrolled(demo.app, demo.users[RIVERA])


def mfa_enrolled(app, user_id: int) -> bool:
    with app.app_context():
        return mfa.is_enrolled(user_id)


def test_new_recovery_codes_need_the_password_and_replace_the_old(demo, app):
    rivera = demo.login(RIVERA)
    assert (
        rivera.submit(
            "/account/two-step/recovery-codes", {"current_password": "wrong one"}
        ).status_code
        == 422
    )
    first = rivera.submit("/account/two-step/recovery-codes", {"current_password": DEMO_PASSWORD})
    old = re.findall(r"<code>([a-z2-9-]{11})</code>", first.get_data(as_text=True))
    second = rivera.submit("/account/two-step/recovery-codes", {"current_password": DEMO_PASSWORD})
    new = re.findall(r"<code>([a-z2-9-]{11})</code>", second.get_data(as_text=True))
    assert len(old) == len(new) == 10 and not set(old) & set(new)
    client, _ = _password_only(app, RIVERA)
    assert client.submit("/login/code", {"code": old[0]}).status_code == 422
    assert client.submit("/login/code", {"code": new[0]}).status_code == 302


def _admin(app) -> str:
    with app.app_context():
        user = create_user("ops@example.com", DEMO_PASSWORD, "Ada Admin", UserKind.ADMIN)
        mfa.demo_enrol(user.id, DEMO_TOTP_SECRET)
        db.session.commit()
        return user.email


def test_an_administrator_resets_a_lost_second_factor(demo, app):
    rivera_id = demo.users[RIVERA]
    rivera = demo.login(RIVERA)
    url = f"/admin/users/{rivera_id}/second-factor/reset"
    # Nobody but an administrator, not even the account's owner.
    assert rivera.submit(url).status_code == 404
    assert demo.login("alex@example.com").submit(url).status_code == 404
    admin = demo.login(_admin(app))
    assert admin.submit("/admin/users/999999/second-factor/reset").status_code == 404
    # The administrator finds the button on Dr. Rivera's account page, and comes back to it.
    page = admin.get(f"/admin/accounts/{rivera_id}").get_data(as_text=True)
    assert f'action="{url}"' in page and "Clear the second factor" in page
    done = admin.submit(url, {"next": f"/admin/accounts/{rivera_id}"})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/accounts/{rivera_id}"
    assert "Clear the second factor" not in admin.get(done.headers["Location"]).get_data(
        as_text=True
    )
    assert not mfa_enrolled(app, rivera_id)
    assert rivera.get("/clinic/").status_code == 302  # her sessions ended
    _client, location = _password_only(app, RIVERA)
    assert location.endswith("/login/setup")  # she sets up a new one before anything else
    with app.app_context():
        reset = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "mfa_reset")).one()
        assert reset.object_id == rivera_id and reset.relation == "admin"
        assert reset.actor_id != rivera_id and reset.patient_id is None


def test_signing_in_again_ends_the_previous_session(demo, app):
    alex = demo.login("alex@example.com")
    with alex.session_transaction() as cookie:
        first = cookie["sid"]
    again = alex.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    assert again.status_code == 302
    with app.app_context():
        live = db.session.scalar(
            select(func.count()).select_from(AuthSession).where(AuthSession.revoked_at.is_(None))
        )
        assert live == 1
    stolen = _client(app)
    with stolen.session_transaction() as cookie:
        cookie["sid"] = first
        cookie["_user_id"] = str(demo.users["alex@example.com"])
    assert stolen.get(f"/p/{demo.alex}/").status_code == 302


@pytest.mark.parametrize("email", ["rivera@example.com", "alex@example.com"])
def test_sign_in_is_audited(demo, app, email):
    demo.login(email)
    user_id = demo.users[email]
    actions = _actions(app, user_id)
    assert actions[-1] == "sign_in" and actions.count("sign_in") == 1
    with app.app_context():
        kinds = {k for (k,) in db.session.execute(select(User.kind).where(User.id == user_id))}
    assert kinds
