"""Sign-in, sessions and throttling, as a person meets them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth import services
from portal.auth.models import AuthSession, LoginThrottle
from portal.config import PRODUCTION_PASSWORD_METHOD
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, text_of

WRONG = "The email address or password is not right"


def test_production_password_hashing_is_scrypt_2_17():
    """The default KDF meets the bar: scrypt with N = 2^17 (hash format of werkzeug)."""
    assert PRODUCTION_PASSWORD_METHOD == "scrypt:131072:8:1"
    hashed = generate_password_hash("correct horse battery", method=PRODUCTION_PASSWORD_METHOD)
    assert hashed.startswith("scrypt:131072:8:1$")
    assert check_password_hash(hashed, "correct horse battery")
    assert not check_password_hash(hashed, "correct horse battery!")


def test_stored_hash_is_upgraded_at_sign_in_when_cost_changes(demo, app_ctx):
    user_id = demo.users["alex@example.com"]
    from portal.auth.models import User

    user = db.session.get(User, user_id)
    user.password_hash = generate_password_hash(DEMO_PASSWORD, method="pbkdf2:sha256:600")
    db.session.commit()
    assert services.authenticate("alex@example.com", DEMO_PASSWORD) is not None
    db.session.commit()
    method = app_ctx.config["PASSWORD_HASH_METHOD"]
    assert db.session.get(User, user_id).password_hash.startswith(method + "$")


def test_sign_in_and_out(demo):
    client = demo.login("alex@example.com")
    assert client.get(f"/p/{demo.alex}/plan").status_code == 200
    response = client.submit("/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    after = client.get(f"/p/{demo.alex}/plan")
    assert after.status_code == 302 and "/login" in after.headers["Location"]


def test_sign_out_ends_the_session_on_the_server(demo, app):
    """A copied cookie is useless after sign-out: the session row is revoked."""
    client = demo.login("alex@example.com")
    cookie = client.get_cookie("cc_session").value
    client.submit("/logout")
    thief = app.test_client()
    thief.set_cookie("cc_session", cookie)
    response = thief.get(f"/p/{demo.alex}/plan")
    assert response.status_code == 302
    with app.app_context():
        sessions = db.session.scalars(select(AuthSession)).all()
        assert sessions and all(s.revoked_at is not None for s in sessions)


def test_failed_sign_in_does_not_say_whether_the_account_exists(demo, client):
    known = client.submit("/login", {"email": "alex@example.com", "password": "not the password"})
    unknown = client.submit("/login", {"email": "nobody@example.com", "password": "whatever12345"})
    assert known.status_code == unknown.status_code == 422
    assert WRONG in text_of(known) and WRONG in text_of(unknown)
    assert text_of(known).replace("alex@example.com", "X") == text_of(unknown).replace(
        "nobody@example.com", "X"
    )


def test_empty_form_gets_messages_next_to_fields(client):
    response = client.submit("/login", {"email": "", "password": ""})
    assert response.status_code == 422
    text = text_of(response)
    assert "There is a problem" in text
    assert "Enter your email address" in text and "Enter your password" in text


def test_sign_in_needs_csrf_token(demo, client):
    response = client.post("/login", data={"email": "alex@example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "expired" in text_of(response)


def test_repeated_failures_are_slowed_then_refused(demo, client, app):
    slow_after = app.config["LOGIN_SLOW_AFTER"]
    for _ in range(slow_after):
        client.submit("/login", {"email": "alex@example.com", "password": "wrong password!"})
    # Now even the right password has to wait: refused with a clear message.
    response = client.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 429
    assert "try again in" in text_of(response)
    # The same happens for an address that has no account: nothing to tell them apart.
    for _ in range(slow_after):
        client.submit("/login", {"email": "ghost@example.com", "password": "wrong password!"})
    ghost = client.submit("/login", {"email": "ghost@example.com", "password": "wrong password!"})
    assert ghost.status_code == 429


def test_lock_after_many_failures_then_release(demo, client, app):
    key = services._throttle_key("alex@example.com")
    with app.app_context():
        db.session.add(
            LoginThrottle(
                key=key,
                failures=app.config["LOGIN_LOCK_AFTER"] - 1,
                locked_until=utcnow() - timedelta(seconds=1),
            )
        )
        db.session.commit()
    client.submit("/login", {"email": "alex@example.com", "password": "wrong password!"})
    with app.app_context():
        throttle = db.session.get(LoginThrottle, key)
        wait = throttle.locked_until - utcnow()
        assert timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"] - 1) < wait
    refused = client.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    assert refused.status_code == 429 and "minutes" in text_of(refused)
    with app.app_context():  # the lock runs out
        db.session.get(LoginThrottle, key).locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    ok = client.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    assert ok.status_code == 302
    with app.app_context():
        assert db.session.get(LoginThrottle, key) is None  # success clears the count


@pytest.mark.parametrize(
    ("field", "age"),
    [("last_seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=12, minutes=1))],
)
def test_idle_and_absolute_session_limits(demo, app, field, age):
    client = demo.login("alex@example.com")
    with app.app_context():
        session = db.session.scalars(select(AuthSession)).one()
        setattr(session, field, utcnow() - age)
        if field == "created_at":
            session.last_seen_at = utcnow()
        db.session.commit()
    response = client.get(f"/p/{demo.alex}/plan")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(AuthSession)).one().revoked_at is not None


def test_active_session_is_kept_alive(demo, app):
    client = demo.login("alex@example.com")
    with app.app_context():
        session = db.session.scalars(select(AuthSession)).one()
        session.last_seen_at = utcnow() - timedelta(minutes=29)
        db.session.commit()
    assert client.get(f"/p/{demo.alex}/plan").status_code == 200
    with app.app_context():
        seen = db.session.scalars(select(AuthSession)).one().last_seen_at
        assert utcnow() - seen < timedelta(minutes=1)


def test_keeping_a_session_alive_writes_only_when_the_request_commits(demo, app, count_queries):
    """The last-seen time is written with the request's commit, so on SQLite a read-only
    page does not take the write lock at its first statement and hold it while rendering."""
    client = demo.login("alex@example.com")
    with app.app_context():
        session = db.session.scalars(select(AuthSession)).one()
        session.last_seen_at = utcnow() - timedelta(minutes=29)
        db.session.commit()
    with count_queries() as counter:
        assert client.get(f"/p/{demo.alex}/plan").status_code == 200
    writes = [
        i
        for i, sql in enumerate(counter.statements)
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes, counter.statements
    reads = [i for i in range(len(counter.statements)) if i not in writes]
    assert max(reads) < min(writes), counter.statements  # every read before any write
    assert any("UPDATE auth_sessions" in counter.statements[i] for i in writes)
    with app.app_context():
        seen = db.session.scalars(select(AuthSession)).one().last_seen_at
        assert utcnow() - seen < timedelta(minutes=1)


def test_a_request_that_fails_records_no_last_seen_time(demo, app):
    client = demo.login("alex@example.com")
    with app.app_context():
        session = db.session.scalars(select(AuthSession)).one()
        before = session.last_seen_at = utcnow() - timedelta(minutes=29)
        db.session.commit()
    assert client.get(f"/p/{demo.blake}/plan").status_code == 404  # rolled back
    with app.app_context():
        assert db.session.scalars(select(AuthSession)).one().last_seen_at == before


def test_session_cookie_flags(demo, client):
    response = client.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run on http://


def test_production_cookies_are_secure(monkeypatch, tmp_path):
    from portal import config

    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("AUDIT_KEY", "a" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/db")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("PUBLIC_URL", "https://portal.example.org")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    cfg = config.load(tmp_path, {"PORTAL_ENV": "production"})
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert cfg["PASSWORD_HASH_METHOD"] == PRODUCTION_PASSWORD_METHOD
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
)
def test_next_never_leaves_the_site(demo, client, target):
    response = client.submit(
        f"/login?next={target}", {"email": "alex@example.com", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/p/{demo.alex}/"


def test_next_brings_you_back(demo, client):
    page = client.get(f"/p/{demo.alex}/plan/history")
    assert page.status_code == 302
    response = client.submit(
        page.headers["Location"], {"email": "alex@example.com", "password": DEMO_PASSWORD}
    )
    assert response.headers["Location"] == f"/p/{demo.alex}/plan/history"


def test_landing_pages_by_kind(demo):
    assert demo.login("alex@example.com").get("/").headers["Location"] == f"/p/{demo.alex}/"
    assert demo.login("rivera@example.com").get("/").headers["Location"] == "/clinic/"
    caregiver = demo.login("sam@example.com")  # the people they help (portal/caregivers)
    assert caregiver.get("/").headers["Location"] == "/helping"
    assert "Alex Morgan" in text_of(caregiver.get("/helping"))
    expired = demo.login("pat@example.com")
    assert expired.get("/").headers["Location"] == "/helping"
    assert "No one has shared" in text_of(expired.get("/helping"))


def test_disabled_account_cannot_sign_in_and_loses_sessions(demo, app):
    from portal.auth.models import User

    client = demo.login("alex@example.com")
    with app.app_context():
        db.session.get(User, demo.users["alex@example.com"]).is_active_account = False
        db.session.commit()
    assert client.get(f"/p/{demo.alex}/plan").status_code == 302
    again = app.test_client()
    from tests.conftest import PortalClient

    assert isinstance(again, PortalClient)
    response = again.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 422


def test_session_cookie_lives_no_longer_than_the_absolute_limit(demo, client, app):
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    response = client.submit("/login", {"email": "alex@example.com", "password": DEMO_PASSWORD})
    expires = parsedate_to_datetime(
        next(
            part.split("=", 1)[1]
            for part in response.headers["Set-Cookie"].split("; ")
            if part.startswith("Expires=")
        )
    )
    hours = (expires - datetime.now(UTC)).total_seconds() / 3600
    assert (
        app.config["SESSION_ABSOLUTE_HOURS"] - 0.1 < hours <= app.config["SESSION_ABSOLUTE_HOURS"]
    )
