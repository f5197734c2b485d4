"""Shared fixtures: one app per session, an empty database per test, signed-in clients.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL
is set (`make test-postgres`, `.ci/run`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import event, select

from portal import create_app, pagecache
from portal.auth.models import User
from portal.extensions import db as _db
from portal.patients import Patient
from tests import snapshot

# The whole run's app logs are scanned for health information (tests/logscan.py).
pytest_plugins = ["tests.logscan"]

DEMO_PASSWORD = "demo-password-2026"
_TMP = tempfile.mkdtemp(prefix="carecircle-tests-")


def _database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP}/test.db"


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    app = create_app(
        {
            "PORTAL_ENV": "test",
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": _database_url(),
            "SERVER_NAME": "localhost",
        }
    )
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(app: Flask) -> Iterator[None]:
    """Every test starts with empty tables (deleting is much faster than re-creating)."""
    yield
    empty_database(app)


def empty_database(app: Flask) -> None:
    """Delete every row, and the kept pages that belonged to them."""
    pagecache.cache_of(app).clear()
    with app.app_context():
        _db.session.remove()
        snapshot.empty(app)


@pytest.fixture()
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app
        _db.session.remove()


class PortalClient(FlaskClient):
    """A test client that knows its CSRF token, as the page's meta tag would give it."""

    def csrf(self) -> str:
        raw = self._session_cookie().get("csrf_token")
        if raw is None:
            with self.session_transaction() as session:
                raw = session.get("csrf_token")
                if raw is None:
                    raw = os.urandom(20).hex()
                    session["csrf_token"] = raw
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def _session_cookie(self) -> dict:
        """The session the cookie holds, read as the app's session interface reads it.

        Reading it through `session_transaction` costs a whole request context
        each time; most calls only read the token, so that is kept for writing one.
        An unreadable or absent cookie reads as empty (and takes the slow path).
        """
        app = self.application
        cookie = self.get_cookie(app.config["SESSION_COOKIE_NAME"])
        if cookie is None:
            return {}
        serializer = app.session_interface.get_signing_serializer(app)
        if serializer is None:
            return {}
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            return dict(serializer.loads(cookie.decoded_value, max_age=max_age))
        except BadSignature:
            return {}

    def clone(self) -> PortalClient:
        """A new client with this one's cookies as they are now: the same session, signed in."""
        twin = type(self)(self.application, self.response_wrapper, use_cookies=True)
        # Werkzeug replaces a cookie on every change, never alters one: sharing them is safe.
        twin._cookies.update(self._cookies)
        return twin

    def submit(self, url: str, data: dict | None = None, **kwargs):
        """POST a form with its CSRF token, as a browser would."""
        return self.post(url, data={**(data or {}), "csrf_token": self.csrf()}, **kwargs)

    def api(self, method: str, url: str, json=None, headers: dict | None = None):
        """Call the JSON API with the CSRF header, as the web app's scripts do."""
        headers = {"X-CSRFToken": self.csrf(), **(headers or {})}
        return self.open(url, method=method, json=json, headers=headers)


@pytest.fixture()
def client(app: Flask) -> PortalClient:
    app.test_client_class = PortalClient
    return app.test_client()


@dataclass
class DemoClinic:
    """The seeded demo clinic: account ids by email and patient ids by first name."""

    users: dict[str, int]
    patients: dict[str, int]
    app: Flask

    def login(self, email: str, password: str = DEMO_PASSWORD) -> PortalClient:
        self.app.test_client_class = PortalClient
        client = self.app.test_client()
        response = client.submit("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        second_step(client, email, response)
        return client

    @property
    def alex(self) -> int:
        return self.patients["Alex"]

    @property
    def blake(self) -> int:
        return self.patients["Blake"]


def second_step(client: PortalClient, email: str, response) -> None:
    """Finish sign-in's second step, as the account's authenticator app would, when it is due."""
    if urlsplit(response.headers.get("Location", "")).path != "/login/code":
        return
    from sqlalchemy import update

    from portal.auth import mfa
    from portal.auth.mfa_models import TotpCredential

    with client.application.app_context():
        user_id = _db.session.scalar(select(User.id).where(User.email == email))
        secret = mfa.secret_of(user_id)
        # Tests sign the same person in many times a minute, more often than a
        # code changes: let this sign-in use the current one (test_mfa.py tests replay).
        _db.session.execute(
            update(TotpCredential).where(TotpCredential.user_id == user_id).values(last_step=None)
        )
        _db.session.commit()
        _db.session.remove()
    done = client.submit("/login/code", {"code": mfa.totp(secret).now()})
    assert done.status_code == 302, done.get_data(as_text=True)


@pytest.fixture()
def demo(app: Flask) -> DemoClinic:
    return seed_demo(app)


def seed_demo(app: Flask) -> DemoClinic:
    """Fill the (empty) database with the demo clinic (seeded once, then restored)."""
    users, patients = snapshot.seeded(app, lambda: _seed(app))
    return DemoClinic(dict(users), dict(patients), app)


def _seed(app: Flask) -> tuple[dict[str, int], dict[str, int]]:
    from portal.demo import seed

    with app.app_context():
        seed()
        _db.session.commit()
        users = {u.email: u.id for u in _db.session.scalars(select(User))}
        patients = {p.given_name: p.id for p in _db.session.scalars(select(Patient))}
        _db.session.remove()
    return users, patients


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture()
def count_queries(app: Flask):
    """Count the SQL statements run inside a `with count_queries() as q:` block."""

    @contextmanager
    def counting() -> Iterator[QueryCounter]:
        counter = QueryCounter()

        def before(conn, cursor, statement, *args):
            counter.statements.append(statement)

        with app.app_context():
            engine = _db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return counting


def text_of(response) -> str:
    """The visible text of an HTML response, whitespace folded."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# -- OpenAPI: every /api/v1 answer in the suite is checked against the description --
@pytest.fixture(autouse=True)
def _api_answers_match_the_description(app: Flask, monkeypatch) -> Iterator[None]:
    from tests.openapi_check import checking_every_client

    with checking_every_client(app, monkeypatch):
        yield


def chain_statements(app: Flask) -> int:
    """Statements sealing the audit trail adds to a request that writes audit rows."""
    from portal.audit.chain import EXTRA_STATEMENTS

    with app.app_context():
        return EXTRA_STATEMENTS[_db.engine.dialect.name]


def indexed_patients(event_id: int) -> list[int]:
    """The patients whose access log finds this list event through the index (in an app context).

    The reader's rule (portal/audit/listed.py): a span of the patient covers
    the event, and the event's own sealed list names the patient.
    """
    from portal.audit.models import AuditEvent, AuditListSpan

    names = _db.session.scalar(select(AuditEvent.patient_ids).where(AuditEvent.id == event_id))
    listed = set((names or "").split(","))
    covering = _db.session.scalars(
        select(AuditListSpan.patient_id).where(
            AuditListSpan.first_event <= event_id, AuditListSpan.last_event >= event_id
        )
    )
    return sorted({patient for patient in covering if str(patient) in listed})
