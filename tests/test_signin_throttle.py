"""Guessing passwords: every try is counted, also when sent at once; locks are soft; 429s say when.

The concurrency test runs real threads against the app served by werkzeug on
loopback, as browsers would hit it; run on PostgreSQL too
(`bash scripts/with-postgres.sh ... tests/test_signin_throttle.py`).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from portal.auth import services, throttle
from portal.auth.models import LoginThrottle
from portal.db import utcnow
from portal.extensions import db
from portal.mail.models import OutboxMail
from tests.conftest import DEMO_PASSWORD, PortalClient, text_of
from tests.factories import Clinic
from tests.mailbox import smtp  # noqa: F401  (the fixture)

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
GUESSES = 24


@pytest.fixture()
def live_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _browser(url: str) -> tuple[requests.Session, str]:
    """A session that has opened the sign-in page: its cookie and CSRF token."""
    browser = requests.Session()
    browser.headers["Host"] = "localhost"  # the app's SERVER_NAME
    page = browser.get(f"{url}/login", timeout=30)
    assert page.status_code == 200
    return browser, CSRF.search(page.text)[1]


def _counts(app, email: str, address: str = "127.0.0.1") -> tuple[int, int]:
    with app.app_context():
        account = db.session.get(LoginThrottle, services._throttle_key(email))
        by_address = db.session.get(LoginThrottle, throttle.key("addr", address))
        return account.failures, by_address.failures


def test_guesses_sent_at_once_are_all_counted_and_the_next_is_refused(app, live_url, smtp):  # noqa: F811
    doctor = Clinic(app).clinician()
    browsers = [_browser(live_url) for _ in range(GUESSES)]
    start = threading.Barrier(GUESSES)
    statuses: list[int] = []

    def guess(n: int) -> None:
        browser, token = browsers[n]
        start.wait()
        answer = browser.post(
            f"{live_url}/login",
            data={"email": doctor.email, "password": f"wrong guess {n}", "csrf_token": token},
            timeout=60,
            allow_redirects=False,
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally = Counter(statuses)
    assert len(statuses) == GUESSES and set(tally) <= {422, 429}, tally  # never a 5xx
    assert _counts(app, doctor.email) == (GUESSES, GUESSES)  # every one counted
    # The next try is refused, even with the right password, and says when to come back.
    browser, token = _browser(live_url)
    refused = browser.post(
        f"{live_url}/login",
        data={"email": doctor.email, "password": DEMO_PASSWORD, "csrf_token": token},
        timeout=30,
        allow_redirects=False,
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in refused.text and "try again in" in refused.text
    # The owner hears of it once, by mail, however many requests crossed the threshold.
    with app.app_context():
        mails = db.session.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.kind == "sign_in_locked")
        )
    assert mails == 1
    smtp.deliver()
    assert "many times" in smtp.one_to(doctor.email).text


def _client(app, address: str = "127.0.0.1") -> PortalClient:
    app.test_client_class = PortalClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _sign_in(client: PortalClient, email: str, password: str):
    return client.submit("/login", {"email": email, "password": password})


def test_a_stranger_cannot_keep_the_lock_closed_by_knocking(app):
    patient = Clinic(app).patient()
    stranger = _client(app, "203.0.113.9")
    for _ in range(app.config["LOGIN_LOCK_AFTER"]):
        _sign_in(stranger, patient.email, "not the password")
    with app.app_context():
        key = services._throttle_key(patient.email)
        until = db.session.get(LoginThrottle, key).locked_until
    for _ in range(5):  # refused while locked: counted, but the wait does not grow
        assert _sign_in(stranger, patient.email, "still not it").status_code == 429
    with app.app_context():
        row = db.session.get(LoginThrottle, key)
        assert row.locked_until == until
        assert row.failures == app.config["LOGIN_LOCK_AFTER"] + 5
        assert until - utcnow() <= timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"])
        # The lock runs out: the owner signs in, and the count is forgotten.
        db.session.execute(update(LoginThrottle).values(locked_until=utcnow()))
        db.session.commit()
    owner = _client(app, "198.51.100.7")
    assert _sign_in(owner, patient.email, DEMO_PASSWORD).status_code == 302
    with app.app_context():
        assert db.session.get(LoginThrottle, key) is None


def test_one_address_guessing_many_accounts_is_slowed(app):
    address = "203.0.113.50"
    guesser = _client(app, address)
    for n in range(app.config["LOGIN_ADDRESS_SLOW_AFTER"]):
        # A different address each time: no single account reaches its own limit.
        answer = _sign_in(guesser, f"someone{n}@example.com", "password guess")
        assert answer.status_code == 422
    refused = _sign_in(guesser, "next.person@example.com", "password guess")
    assert refused.status_code == 429 and "try again in" in text_of(refused)
    assert int(refused.headers["Retry-After"]) > 0
    # The same account from another address is not held back by that one.
    patient = Clinic(app).patient()
    assert _sign_in(_client(app, "198.51.100.8"), patient.email, DEMO_PASSWORD).status_code == 302


def test_a_quiet_day_forgets_old_failures(app):
    patient = Clinic(app).patient()
    client = _client(app)
    for _ in range(2):
        _sign_in(client, patient.email, "wrong wrong")
    with app.app_context():
        db.session.execute(
            update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    _sign_in(client, patient.email, "wrong again")
    with app.app_context():
        row = db.session.get(LoginThrottle, services._throttle_key(patient.email))
        assert row.failures == 1


def test_a_new_password_from_the_mailbox_opens_the_lock(app, smtp):  # noqa: F811
    """The owner is never locked out for good: a reset link proves the mailbox is theirs."""
    patient = Clinic(app).patient()
    stranger = _client(app, "81.2.69.160")
    for _ in range(app.config["LOGIN_LOCK_AFTER"]):
        _sign_in(stranger, patient.email, "not the password")
    owner = _client(app, "93.184.216.34")
    assert _sign_in(owner, patient.email, DEMO_PASSWORD).status_code == 429
    owner.submit("/forgot-password", {"email": patient.email})
    smtp.deliver()
    mail = next(m for m in smtp.to(patient.email) if "reset-password" in m.text)
    link = re.search(r"http://localhost(/reset-password/\S+)", mail.text)[1]
    assert owner.get(link).status_code == 302
    new_password = "a quiet walk along the canal"
    assert owner.submit("/reset-password", {"password": new_password}).status_code == 302
    assert _sign_in(owner, patient.email, new_password).status_code == 302
