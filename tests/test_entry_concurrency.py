"""Entry POSTs at once, over real HTTP: every one answers, every entry is stored once.

The portal is served on loopback on the suite's database (a SQLite file, or
PostgreSQL with TEST_DATABASE_URL) by werkzeug, a thread per request. Each
patient signs in for real and posts with their own session, as a clinic's
patients would; the team's clinician gets the hourly digests.

- Many patients at once: on SQLite every request must wait for the write lock,
  never answer 500 "database is locked". Threads share one interpreter, which
  spaces their requests out: 32 gunicorn workers met the lock timing out (7
  of 160 with the savepoint-first write path and a 5 s busy timeout), so a
  test also holds the lock for longer than that and sees a POST wait.
- One entry sent many times at once with one idempotency key: stored once, and
  every answer carries that entry.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.goals.models import Goal, ProgressEntry
from portal.notifications.models import Notification
from tests.conftest import DEMO_PASSWORD, PortalClient
from tests.factories import Clinic

WORKERS = 32


@dataclass
class Poster:
    """One signed-in patient: their session cookie, CSRF token and walking goal."""

    patient_id: int
    goal_id: int
    http: requests.Session
    csrf: str


@pytest.fixture()
def served(app: Flask) -> Iterator[str]:
    # Quiet for these hundreds of requests only: later tests read werkzeug's access log.
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="entry-posts", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        werkzeug_log.setLevel(level)


def _clinic(app: Flask, patients: int) -> tuple[int, list[tuple[int, int, str]]]:
    """A clinician and `patients` patients on her team, each with a daily walking goal."""
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Concurrent")
    made = []
    for n in range(patients):
        patient = clinic.patient("Poster", str(n))
        clinic.team(patient, doctor)
        goal = clinic.goal(
            patient, "Walk every day", category="physical_activity", frequency="daily"
        )
        made.append((patient.id, goal, patient.email))
    return doctor.id, made


def _sign_in(app: Flask, base: str, patient_id: int, goal_id: int, email: str) -> Poster:
    """Sign in through the test client, then carry its cookie over to real HTTP."""
    app.test_client_class = PortalClient
    client = app.test_client()
    answer = client.submit("/login", {"email": email, "password": DEMO_PASSWORD})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    http = requests.Session()
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    http.cookies.set(cookie.key, cookie.value, domain="127.0.0.1", path="/")
    page = http.get(f"{base}/p/{patient_id}/goals/{goal_id}", timeout=30)
    assert page.status_code == 200
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    return Poster(patient_id, goal_id, http, token)


def _count(app: Flask, model, *where) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(model).where(*where))
        finally:
            db.session.remove()


def _api_post(base: str, poster: Poster, key: str, value: int = 25) -> requests.Response:
    return poster.http.post(
        f"{base}/api/v1/patients/{poster.patient_id}/goals/{poster.goal_id}/entries",
        json={"value": value},
        headers={"X-CSRFToken": poster.csrf, "Idempotency-Key": key},
        timeout=60,
    )


def _form_post(base: str, poster: Poster, key: str, value: int = 25) -> requests.Response:
    return poster.http.post(
        f"{base}/p/{poster.patient_id}/goals/{poster.goal_id}/entries",
        data={"value": str(value), "idempotency_key": key, "csrf_token": poster.csrf},
        allow_redirects=False,
        timeout=60,
    )


def test_many_patients_posting_at_once_all_answer_and_are_stored_once(app, served):
    doctor, made = _clinic(app, WORKERS)
    posters = [_sign_in(app, served, *row) for row in made]
    keys = [str(uuid.uuid4()) for _ in posters]
    start = threading.Barrier(WORKERS)

    def post(n: int) -> int:
        start.wait()
        send = _api_post if n % 2 else _form_post
        return send(served, posters[n], keys[n]).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = Counter(pool.map(post, range(WORKERS)))
    assert statuses == {201: WORKERS // 2, 303: WORKERS // 2}, statuses
    for poster, key in zip(posters, keys, strict=True):
        stored = ProgressEntry.patient_id == poster.patient_id, ProgressEntry.idempotency_key == key
        assert _count(app, ProgressEntry, *stored) == 1
    # Each patient's digest for the clinician, and one audit row per entry.
    assert _count(app, Notification, Notification.user_id == doctor) == WORKERS
    created = AuditEvent.action == "create", AuditEvent.object_type == "progress_entry"
    assert _count(app, AuditEvent, *created) == WORKERS
    with app.app_context():
        waiting = db.session.scalar(
            select(func.count()).where(Goal.awaiting_reply_since.is_not(None))
        )
        db.session.remove()
    assert waiting == WORKERS


@pytest.mark.parametrize("send", [_api_post, _form_post], ids=["api", "form"])
def test_one_entry_sent_twenty_times_at_once_is_stored_once(app, served, send):
    _doctor, made = _clinic(app, 1)
    poster = _sign_in(app, served, *made[0])
    key = str(uuid.uuid4())
    start = threading.Barrier(20)

    def post(_n: int) -> requests.Response:
        start.wait()
        return send(served, poster, key, 42)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    stored = ProgressEntry.patient_id == poster.patient_id
    assert _count(app, ProgressEntry, stored) == 1
    statuses = Counter(a.status_code for a in answers)
    if send is _api_post:
        # The first answers 201, every retry 200 with the very same entry.
        assert statuses == {201: 1, 200: 19}, statuses
        assert len({a.json()["id"] for a in answers}) == 1
        assert {a.json()["value"] for a in answers} == {42}
    else:
        assert statuses == {303: 20}, statuses
    # Sent again later with other details, the key is refused, and nothing changes.
    other = send(served, poster, key, 43)
    assert other.status_code == (409 if send is _api_post else 303)
    assert _count(app, ProgressEntry, stored) == 1


def test_on_sqlite_a_post_waits_for_the_write_lock_rather_than_failing(app):
    """Another writer holds SQLite's write lock for 6 s: the POST waits, then stores its entry.

    SQLite's busy handler polls and is not fair, so under many workers a request
    can wait long; with the old 5 s busy timeout this answered 500.
    """
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite:///"):
        pytest.skip("SQLite's database-wide write lock")
    _doctor, made = _clinic(app, 1)
    patient_id, goal_id, email = made[0]
    app.test_client_class = PortalClient
    client = app.test_client()
    assert client.submit("/login", {"email": email, "password": DEMO_PASSWORD}).status_code == 302
    path = url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the write lock, as a long transaction would hold it
    release = threading.Timer(6, other.commit)
    release.start()
    try:
        began = time.monotonic()
        answer = client.api(
            "POST",
            f"/api/v1/patients/{patient_id}/goals/{goal_id}/entries",
            {"value": 30},
            {"Idempotency-Key": str(uuid.uuid4())},
        )
        waited = time.monotonic() - began
    finally:
        release.join()
        other.close()
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert waited >= 5.5  # it did wait for the lock
    assert _count(app, ProgressEntry, ProgressEntry.patient_id == patient_id) == 1
