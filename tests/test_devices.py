"""'Your devices': sessions in words, signing one out or everywhere else; idle limits by kind."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from portal.audit.models import AuditEvent
from portal.auth.devices import device_words, place_words
from portal.auth.models import AuthSession
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, PortalClient, second_step, text_of

ALEX = "alex@example.com"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def _phone(app, email: str, agent: str, address: str) -> PortalClient:
    app.test_client_class = PortalClient
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent})
    response = client.submit("/login", {"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    second_step(client, email, response)
    return client


@pytest.mark.parametrize(
    ("agent", "words"),
    [
        (ANDROID, "Chrome on an Android phone"),
        (IPHONE, "Safari on an iPhone"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Edg/131.0", "Edge on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5) Firefox/133.0", "Firefox on a Mac"),
        ("curl/8.5", "An unknown device"),
        (None, "An unknown device"),
    ],
)
def test_device_in_words(agent, words):
    assert device_words(agent) == words


def test_place_in_words_is_coarse():
    assert place_words("81.2.69.77", "93.184.216.1") == "Internet address 81.2.69.x"
    assert place_words("81.2.69.77", "81.2.69.77") == "The same network as this device"
    assert place_words("192.168.1.20", None).startswith("A private network")
    assert place_words("2a00:1450:4001:82a::200e", None) == "Internet address 2a00:1450:4001::…"
    assert place_words(None, None) == "Place not known"


def test_alex_signs_his_other_phone_out(demo, app):
    android = _phone(app, ALEX, ANDROID, "81.2.69.77")
    iphone = _phone(app, ALEX, IPHONE, "93.184.216.20")
    with app.app_context():
        # Last seen seven minutes ago: shown in Alex's own time zone (New York).
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.user_agent == IPHONE)
            .values(last_seen_at=utcnow() - timedelta(minutes=7))
        )
        db.session.commit()
        iphone_id = db.session.scalar(
            select(AuthSession.id).where(AuthSession.user_agent == IPHONE)
        )
        seen = db.session.get(AuthSession, iphone_id).last_seen_at
    page = android.get("/account/devices")
    assert page.status_code == 200
    text = text_of(page)
    assert "Chrome on an Android phone This device" in text
    assert "Safari on an iPhone" in text and "Internet address 93.184.216.x" in text
    local = seen.astimezone(ZoneInfo("America/New_York"))
    half = "AM" if local.hour < 12 else "PM"  # as en-US, the default, writes it
    assert f"{local:%b} {local.day}, {local:%Y}, {local.hour % 12 or 12}:{local:%M} {half}" in text
    signed_out = android.submit(f"/account/devices/{iphone_id}/sign-out")
    assert signed_out.status_code == 302
    assert iphone.get(f"/p/{demo.alex}/").status_code == 302  # the other phone is out
    assert android.get(f"/p/{demo.alex}/").status_code == 200  # this one is not
    assert "Safari on an iPhone" not in text_of(android.get("/account/devices"))
    assert android.submit(f"/account/devices/{iphone_id}/sign-out").status_code == 404
    with app.app_context():
        assert db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "session_ended")
        ).all() == ["session_ended"]


def test_nobody_signs_out_someone_elses_session_or_their_own_here(demo, app):
    alex = _phone(app, ALEX, ANDROID, "81.2.69.77")
    blake = _phone(app, "blake@example.com", IPHONE, "93.184.216.20")
    with app.app_context():
        alex_id, blake_id = (
            db.session.scalar(select(AuthSession.id).where(AuthSession.user_agent == agent))
            for agent in (ANDROID, IPHONE)
        )
    assert blake.submit(f"/account/devices/{alex_id}/sign-out").status_code == 404
    assert alex.get(f"/p/{demo.alex}/").status_code == 200
    assert blake.submit(f"/account/devices/{blake_id}/sign-out").status_code == 400


def test_sign_out_everywhere_else(demo, app):
    here = _phone(app, ALEX, ANDROID, "81.2.69.77")
    others = [_phone(app, ALEX, IPHONE, f"93.184.216.{n}") for n in range(3)]
    assert "Sign out everywhere else" in text_of(here.get("/account/devices"))
    done = here.submit("/account/devices/sign-out-others")
    assert done.status_code == 302
    assert "Signed out on 3 other devices" in text_of(here.get("/account/devices"))
    assert all(o.get(f"/p/{demo.alex}/").status_code == 302 for o in others)
    assert here.get(f"/p/{demo.alex}/").status_code == 200
    assert "Sign out everywhere else" not in text_of(here.get("/account/devices"))


@pytest.mark.parametrize(("email", "kept"), [("rivera@example.com", False), (ALEX, True)])
def test_clinicians_idle_out_after_15_minutes_patients_after_30(demo, app, email, kept):
    client = demo.login(email)
    with app.app_context():
        db.session.execute(
            update(AuthSession).values(last_seen_at=utcnow() - timedelta(minutes=16))
        )
        db.session.commit()
    response = client.get("/account")
    assert (response.status_code == 200) is kept


@pytest.mark.parametrize(("email", "minutes"), [("rivera@example.com", 15), (ALEX, 30)])
def test_pages_say_how_long_their_session_lasts(demo, app, email, minutes):
    """The service worker keeps this with each saved page (tests/browser/test_session_expiry.py)."""
    client = demo.login(email)
    left = int(client.get("/account").headers["X-CC-Session-Left"])
    assert minutes * 60 - 5 <= left <= minutes * 60
    with app.app_context():  # the absolute limit comes first near the end of the day
        db.session.execute(
            update(AuthSession).values(
                created_at=utcnow()
                - timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"])
                + timedelta(minutes=2)
            )
        )
        db.session.commit()
    assert 100 <= int(client.get("/account").headers["X-CC-Session-Left"]) <= 120
    # Not on what the worker never saves, nor for nobody.
    assert "X-CC-Session-Left" not in client.get("/manifest.webmanifest").headers
    assert "X-CC-Session-Left" not in PortalClient(app).get("/login").headers
