"""A forgotten password, as Alex meets it: a link by mail, a new password, every session ended.

Every mail here is read from a real SMTP server (tests/mailbox.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from portal.auth import recovery
from portal.auth.tokens import AccountToken
from portal.db import utcnow
from portal.extensions import db
from portal.mail.models import OutboxMail
from tests.conftest import DEMO_PASSWORD, text_of
from tests.mailbox import smtp  # noqa: F401  (the fixture)

ALEX = "alex@example.com"
NEW_PASSWORD = "a slow walk by the river 🌊"
LINK = re.compile(r"http://localhost/reset-password/[A-Za-z0-9_-]+")


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _ask_for_link(client, email: str = ALEX):
    page = client.get("/login")
    assert "Forgot your password?" in text_of(page)
    assert 'href="/forgot-password"' in page.get_data(as_text=True)
    return client.submit("/forgot-password", {"email": email})


def test_alex_resets_a_forgotten_password(demo, client, smtp):  # noqa: F811
    phone = demo.login(ALEX)  # his other device, signed in
    assert phone.get(f"/p/{demo.alex}/plan").status_code == 200

    answer = _ask_for_link(client)
    assert answer.status_code == 200 and "Check your email" in text_of(answer)
    mail = smtp.one_to(ALEX)
    assert mail.message["Subject"] == "Reset your CareCircle password"
    assert mail.message.get_content_type() == "multipart/alternative"
    link = LINK.search(mail.text).group(0)
    assert link in mail.html  # the same absolute link in both parts
    assert "60 minutes" in mail.text

    followed = client.get(link.removeprefix("http://localhost"))
    assert followed.status_code == 302 and followed.headers["Location"] == "/reset-password"
    form = client.get("/reset-password")
    assert form.status_code == 200 and "Choose a new password" in text_of(form)
    done = client.submit("/reset-password", {"password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/login"

    # His other phone is signed out; the new password works, the old one and the link do not.
    assert phone.get(f"/p/{demo.alex}/plan").status_code == 302
    assert demo.login(ALEX, NEW_PASSWORD).get(f"/p/{demo.alex}/plan").status_code == 200
    old = client.submit("/login", {"email": ALEX, "password": DEMO_PASSWORD})
    assert old.status_code == 422
    again = client.get(link.removeprefix("http://localhost"))
    assert again.status_code == 410
    assert "This link no longer works" in text_of(again)
    assert 'href="/forgot-password"' in again.get_data(as_text=True)

    smtp.deliver()
    subjects = [m.message["Subject"] for m in smtp.to(ALEX)]
    assert subjects == ["Reset your CareCircle password", "Your CareCircle password was changed"]


def test_unknown_address_gets_the_same_page_and_no_mail(demo, app, smtp):  # noqa: F811
    known = _ask_for_link(demo.app.test_client(), ALEX)
    unknown = _ask_for_link(demo.app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    same = text_of(known).replace(ALEX, "X") == text_of(unknown).replace("nobody@example.com", "X")
    assert same
    assert _count(app, OutboxMail) == 1  # Alex's only
    assert smtp.deliver().sent == 1
    assert smtp.to("nobody@example.com") == []


def test_an_expired_link_is_refused(demo, client, smtp, monkeypatch):  # noqa: F811
    _ask_for_link(client)
    link = LINK.search(smtp.one_to(ALEX).text).group(0).removeprefix("http://localhost")
    later = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(recovery, "utcnow", lambda: later)
    refused = client.get(link)
    assert refused.status_code == 410 and "Ask for a new link" in text_of(refused)


def test_a_link_that_expires_while_the_form_is_open_saves_nothing(demo, client, smtp, monkeypatch):  # noqa: F811
    _ask_for_link(client)
    link = LINK.search(smtp.one_to(ALEX).text).group(0).removeprefix("http://localhost")
    assert client.get(link).status_code == 302
    later = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(recovery, "utcnow", lambda: later)
    assert client.submit("/reset-password", {"password": NEW_PASSWORD}).status_code == 410
    assert client.submit("/login", {"email": ALEX, "password": DEMO_PASSWORD}).status_code == 302


def test_the_new_password_follows_the_rules(demo, client, smtp):  # noqa: F811
    _ask_for_link(client)
    link = LINK.search(smtp.one_to(ALEX).text).group(0).removeprefix("http://localhost")
    client.get(link)
    short = client.submit("/reset-password", {"password": "short one"})
    assert short.status_code == 422
    assert "at least 12 characters" in text_of(short) and "There is a problem" in text_of(short)
    common = client.submit("/reset-password", {"password": "qwerty123456"})
    assert common.status_code == 422 and "too common" in text_of(common)
    # The link still works after a refused password.
    assert client.submit("/reset-password", {"password": NEW_PASSWORD}).status_code == 302


def test_forms_need_the_csrf_token(demo, client, smtp):  # noqa: F811
    assert client.post("/forgot-password", data={"email": ALEX}).status_code == 400
    assert _count(demo.app, AccountToken) == 0
    _ask_for_link(client)
    client.get(LINK.search(smtp.one_to(ALEX).text).group(0).removeprefix("http://localhost"))
    assert client.post("/reset-password", data={"password": NEW_PASSWORD}).status_code == 400
    assert client.submit("/login", {"email": ALEX, "password": DEMO_PASSWORD}).status_code == 302


def test_a_bad_address_is_explained(demo, client):
    response = client.submit("/forgot-password", {"email": "not an address"})
    assert response.status_code == 422
    assert "Enter an email address like name@example.com" in text_of(response)


def test_links_to_one_address_are_limited(demo, app, smtp):  # noqa: F811
    for _ in range(5):
        assert _ask_for_link(demo.app.test_client()).status_code == 200
    assert smtp.deliver().sent == app.config["PASSWORD_RESETS_PER_HOUR"]


def test_only_the_hash_of_a_link_is_stored(demo, app, client, smtp):  # noqa: F811
    _ask_for_link(client)
    with app.app_context():
        stored = db.session.scalars(select(AccountToken.token_hash)).one()
        sealed = db.session.scalars(select(OutboxMail.sealed)).one()
    token = LINK.search(smtp.one_to(ALEX).text).group(0).rsplit("/", 1)[1]
    assert token not in stored and len(stored) == 64
    assert token not in sealed and ALEX not in sealed  # the queued mail is sealed too
    with app.app_context():  # and wiped once sent
        assert db.session.scalars(select(OutboxMail.sealed)).one() is None


def test_a_reset_answers_with_the_same_queries_either_way(demo, count_queries):
    """Same work for a known and an unknown address: the same statements but the mail row."""
    counts = []
    for email in (ALEX, "nobody@example.com"):
        client = demo.app.test_client()
        token = client.get("/forgot-password")
        assert token.status_code == 200
        with count_queries() as counter:
            _ask_for_link(client, email)
        counts.append(counter.count)
    known, unknown = counts
    assert known - unknown <= 1, counts
