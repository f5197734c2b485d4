"""The deliverer against the local push-service stand-in, with the real pywebpush.

Each test runs its own stand-in; the allow-list names only its origin. Time is
passed in (`now=`) rather than frozen, so quiet hours, backoff and leases are
tested without waiting.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from portal.goals.models import Goal
from portal.notifications import enqueue, preferences, services
from portal.notifications.delivery import Deliverer
from portal.notifications.models import (
    Notification,
    NotificationStatus,
    PushDelivery,
    PushSubscription,
)
from portal.patients import Patient
from tests.pushservice import PushService, Subscription

IS_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")
BACKOFF = 30


@pytest.fixture
def push(app, monkeypatch) -> Iterator[PushService]:
    """A stand-in push service, and an allow-list naming only it."""
    with PushService(hang_seconds=5) as service:
        monkeypatch.setitem(app.config, "PUSH_SERVICE_HOSTS", service.origin)
        yield service
    assert service.errors == []


def deliverer(app, **options) -> Deliverer:
    options = {"concurrency": 4, "timeout": 2, "backoff_seconds": BACKOFF, **options}
    return Deliverer(app, **options)


def user_id(demo, email="alex@example.com") -> int:
    return demo.users[email]


def register(app, uid: int, sub: Subscription) -> int:
    """Register a stand-in subscription for a user, as the API does."""
    with app.test_request_context():
        user = db.session.get(User, uid)
        row, created = services.subscribe(
            user, sub.info, user_agent="Mozilla/5.0 (Android) Chrome/140"
        )
        db.session.commit()
        assert created
        return row.id


def notify(app, kind="goal_reply", uids=(), **options) -> list[int]:
    with app.test_request_context():
        options.setdefault("url", "/p/1/goals/1")
        rows = enqueue(kind, list(uids), **options)
        db.session.commit()
        return [r.id for r in rows]


def notice(app, notification_id: int) -> Notification:
    with app.app_context():
        row = db.session.get(Notification, notification_id)
        db.session.expunge(row)
        return row


def device_exists(app, subscription_id: int) -> bool:
    with app.app_context():
        return db.session.get(PushSubscription, subscription_id) is not None


# -- the whole path ----------------------------------------------------------------------------


def test_reply_reaches_alex_signed_encrypted_and_without_health_information(
    app, demo, push, client
):
    browser = push.new_subscription()
    alex = demo.login("alex@example.com")
    response = alex.api("POST", "/api/v1/push/subscriptions", json=browser.info)
    assert response.status_code == 201, response.get_json()
    [nid] = notify(app, uids=[user_id(demo)], url=f"/p/{demo.alex}/goals/1", patient_id=demo.alex)

    with deliverer(app) as d:
        stats = d.run_once()
    assert (stats.sent, stats.messages) == (1, 1)

    [message] = push.wait_for(1)
    assert push.rejections == []
    # RFC 8292: a JWT for this push service, signed by the server's key, with a contact.
    assert message.jwt_claims["aud"] == push.origin
    assert message.jwt_claims["sub"] == app.config["VAPID_SUBJECT"]
    assert 0 < message.jwt_claims["exp"] - time.time() <= 24 * 3600
    assert message.headers["Authorization"].startswith("vapid t=")
    # RFC 8030: an explicit TTL (not 0), Urgency, and a Topic that collapses repeats.
    assert message.headers["TTL"] == str(app.config["PUSH_TTL_SECONDS"]) != "0"
    assert message.headers["Urgency"] == "normal"
    assert message.headers["Topic"] == "goal-reply"
    assert message.headers["Content-Encoding"] == "aes128gcm"

    payload = json.loads(message.payload)
    assert payload == {
        "title": "New reply from your care team",
        "body": "Sign in to CareCircle to read it.",
        "url": f"/p/{demo.alex}/goals/1",
        "tag": "goal-reply",
    }
    text = message.payload.decode().lower()
    with app.app_context():
        patient = db.session.get(Patient, demo.alex)
        forbidden = [patient.given_name, patient.family_name, "rivera"]
        for goal in db.session.scalars(select(Goal).where(Goal.patient_id == demo.alex)):
            forbidden += [goal.title, goal.why]
            if goal.target_value is not None:
                forbidden.append(f"{goal.target_value:g}")
    assert len(forbidden) > 3
    for word in forbidden:
        if word:
            assert word.lower() not in text, f"the payload names {word!r}"

    row = notice(app, nid)
    assert row.status is NotificationStatus.SENT and row.sent_at is not None
    with app.app_context():
        device = db.session.scalar(select(PushSubscription))
        assert device.last_success_at is not None


def test_every_device_of_the_user_gets_the_notice_once(app, demo, push):
    uid = user_id(demo)
    phone, laptop = push.new_subscription(), push.new_subscription()
    register(app, uid, phone)
    register(app, uid, laptop)
    notify(app, uids=[uid])
    with deliverer(app) as d:
        assert d.run_once().messages == 2
        assert d.run_once().claimed == 0  # nothing left, nothing twice
    assert len(push.received_for(phone)) == len(push.received_for(laptop)) == 1


# -- answers from the push service -------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["gone", "not_found"])
def test_expired_endpoint_is_removed(app, demo, push, behaviour):
    uid = user_id(demo)
    expired, live = push.new_subscription(behaviour), push.new_subscription()
    expired_id, live_id = register(app, uid, expired), register(app, uid, live)
    [nid] = notify(app, uids=[uid])
    with deliverer(app) as d:
        stats = d.run_once()
    assert stats.removed_devices == 1
    assert not device_exists(app, expired_id)
    assert device_exists(app, live_id)
    assert notice(app, nid).status is NotificationStatus.SENT
    assert len(push.received_for(live)) == 1


def test_only_device_gone_leaves_the_notice_without_a_device(app, demo, push):
    uid = user_id(demo)
    sub_id = register(app, uid, push.new_subscription("gone"))
    [nid] = notify(app, uids=[uid])
    with deliverer(app) as d:
        d.run_once()
    assert not device_exists(app, sub_id)
    row = notice(app, nid)
    assert row.status is NotificationStatus.NO_DEVICE
    assert "410" in row.last_error


def test_payload_too_large_is_permanent(app, demo, push):
    uid = user_id(demo)
    sub = push.new_subscription("too_large")
    register(app, uid, sub)
    [nid] = notify(app, uids=[uid])
    now = datetime.now(UTC)
    with deliverer(app) as d:
        d.run_once(now)
        assert d.run_once(now + timedelta(days=1)).claimed == 0
    row = notice(app, nid)
    assert row.status is NotificationStatus.FAILED
    assert row.last_error.startswith("413")
    assert len(push.requests_for(sub)) == 1


def test_rate_limit_waits_for_retry_after(app, demo, push):
    uid = user_id(demo)
    sub = push.new_subscription("rate_limited_once", retry_after=120)
    register(app, uid, sub)
    [nid] = notify(app, uids=[uid])
    now = datetime.now(UTC)
    with deliverer(app) as d:
        assert d.run_once(now).retried == 1
        row = notice(app, nid)
        assert row.status is NotificationStatus.PENDING
        assert row.not_before >= now + timedelta(seconds=120)
        assert "429" in row.last_error
        # Not before Retry-After has passed...
        assert d.run_once(now + timedelta(seconds=119)).claimed == 0
        assert push.received == []
        # ...and then it goes.
        assert d.run_once(now + timedelta(seconds=121)).sent == 1
    assert len(push.received_for(sub)) == 1
    assert notice(app, nid).status is NotificationStatus.SENT


def test_server_error_retries_with_backoff_then_succeeds(app, demo, push):
    uid = user_id(demo)
    sub = push.new_subscription("error_once")
    register(app, uid, sub)
    [nid] = notify(app, uids=[uid])
    now = datetime.now(UTC)
    with deliverer(app) as d:
        assert d.run_once(now).retried == 1
        row = notice(app, nid)
        assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
        assert row.not_before == now + timedelta(seconds=BACKOFF)
        assert row.last_error.startswith("500")
        assert d.run_once(now + timedelta(seconds=BACKOFF - 1)).claimed == 0
        assert d.run_once(now + timedelta(seconds=BACKOFF)).sent == 1
    assert len(push.received_for(sub)) == 1
    row = notice(app, nid)
    assert row.status is NotificationStatus.SENT


def test_server_error_gives_up_after_max_attempts_with_the_reason(app, demo, push):
    uid = user_id(demo)
    sub = push.new_subscription("error")
    register(app, uid, sub)
    [nid] = notify(app, uids=[uid])
    now = datetime.now(UTC)
    waits = []
    with deliverer(app, max_attempts=3) as d:
        for _ in range(3):
            d.run_once(now)
            row = notice(app, nid)
            if row.status is NotificationStatus.PENDING:
                waits.append((row.not_before - now).total_seconds())
                now = row.not_before
    assert waits == [BACKOFF, 2 * BACKOFF]  # exponential
    row = notice(app, nid)
    assert row.status is NotificationStatus.FAILED
    assert row.attempts == 3
    assert "3 attempts" in row.last_error and "500" in row.last_error
    assert len(push.requests_for(sub)) == 3


def test_hanging_push_service_is_cut_by_the_timeout_and_retried(app, demo, push):
    uid = user_id(demo)
    sub = push.new_subscription("hang")
    register(app, uid, sub)
    [nid] = notify(app, uids=[uid])
    now = datetime.now(UTC)
    with deliverer(app, timeout=0.5) as d:
        started = time.monotonic()
        assert d.run_once(now).retried == 1
        assert time.monotonic() - started < 3  # not the stand-in's 5 s hang
        row = notice(app, nid)
        assert row.status is NotificationStatus.PENDING
        assert "timed out" in row.last_error
        push.set_behaviour(sub, "ok")
        assert d.run_once(row.not_before).sent == 1
    assert len(push.received_for(sub)) == 1


# -- crashes, leases and concurrency -----------------------------------------------------------


class CrashAfter(Deliverer):
    """Dies (once) right after recording its n-th delivered message."""

    def __init__(self, app, after: int, **options) -> None:
        super().__init__(app, **options)
        self.after, self.recorded, self.crashed = after, 0, False

    def _record(self, outcomes) -> None:
        super()._record(outcomes)
        self.recorded += len(outcomes)
        if self.recorded >= self.after and not self.crashed:
            self.crashed = True
            raise RuntimeError("simulated crash")


def test_crash_mid_batch_loses_nothing_and_sends_nothing_twice(app, demo, push):
    uid = user_id(demo)
    sub = push.new_subscription()
    register(app, uid, sub)
    ids = []
    for i in range(12):
        ids += notify(app, uids=[uid], url=f"/p/{demo.alex}/goals/{i}")
    now = datetime.now(UTC)
    crashing = CrashAfter(app, after=4, concurrency=2, timeout=2, batch_size=20, lease_seconds=300)
    assert crashing.lease == timedelta(seconds=300)
    with crashing, pytest.raises(RuntimeError, match="simulated crash"):
        crashing.run_once(now)
    sent_before_crash = len(push.received)
    assert 4 <= sent_before_crash < 12
    with app.app_context():
        marks = db.session.scalar(select(func.count()).select_from(PushDelivery))
    assert marks == sent_before_crash  # every message that went out is marked

    with deliverer(app) as d:
        # The crashed deliverer's claims hold until their lease ends...
        assert d.run_once(now + timedelta(seconds=60)).claimed == 0
        # ...then another deliverer finishes the batch.
        stats = d.run_once(now + timedelta(seconds=301))
    assert stats.claimed == 12
    assert stats.messages == 12 - sent_before_crash
    urls = Counter(json.loads(m.payload)["url"] for m in push.received)
    assert urls == Counter({f"/p/{demo.alex}/goals/{i}": 1 for i in range(12)})
    assert {notice(app, n).status for n in ids} == {NotificationStatus.SENT}


def test_a_claimed_notice_is_not_claimed_by_another_deliverer(app, demo, push):
    uid = user_id(demo)
    register(app, uid, push.new_subscription())
    notify(app, uids=[uid])
    now = datetime.now(UTC)
    with deliverer(app) as first, deliverer(app) as second, app.app_context():
        assert len(first._claim(now)) == 1
        assert second._claim(now) == []
        db.session.remove()


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not IS_POSTGRES,
    reason="needs PostgreSQL row locks (SELECT ... FOR UPDATE SKIP LOCKED); "
    "run `make test-postgres`",
)
def test_concurrent_deliverers_on_postgres_send_each_notice_once(app, demo, push):
    uid = user_id(demo)
    register(app, uid, push.new_subscription())
    for i in range(200):
        notify(app, uids=[uid], url=f"/p/1/goals/{i}")
    errors = []

    def run() -> None:
        try:
            with deliverer(app, batch_size=20) as d:
                d.run_once()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    urls = Counter(json.loads(m.payload)["url"] for m in push.received)
    assert len(urls) == 200 and set(urls.values()) == {1}


def test_connections_are_reused_and_vapid_signed_once_per_origin(app, demo, push):
    uids = [user_id(demo, e) for e in ("alex@example.com", "blake@example.com")]
    for uid in uids:
        for _ in range(3):
            register(app, uid, push.new_subscription())
    for i in range(10):
        notify(app, uids=uids, url=f"/p/1/goals/{i}")
    with deliverer(app, concurrency=4) as d:
        stats = d.run_once()
        assert d.signer.signatures == 1
    assert stats.messages == 60
    assert len(push.received) == 60
    assert push.connections <= 4  # a keep-alive pool, not a connection per message


# -- preferences -------------------------------------------------------------------------------


def test_quiet_hours_hold_a_notice_until_they_end(app, demo, push):
    uid = user_id(demo)  # Alex lives in America/New_York
    register(app, uid, push.new_subscription())
    with app.app_context():
        user = db.session.get(User, uid)
        preferences.save_preferences(
            user,
            enabled=["replies", "plan", "reminders"],
            quiet_start=datetime.strptime("22:00", "%H:%M").time(),
            quiet_end=datetime.strptime("07:00", "%H:%M").time(),
        )
        db.session.commit()
    late_evening = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)  # 22:30 in New York
    morning = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 07:00 in New York
    [nid] = notify(app, uids=[uid], now=late_evening)
    assert notice(app, nid).not_before == morning
    with deliverer(app) as d:
        assert d.run_once(late_evening + timedelta(hours=8)).claimed == 0
        assert push.received == []
        assert d.run_once(morning).sent == 1
    assert len(push.received) == 1


def test_quiet_hours_chosen_after_enqueue_hold_at_delivery(app, demo, push):
    uid = user_id(demo)
    register(app, uid, push.new_subscription())
    night = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 23:00 in New York
    [nid] = notify(app, uids=[uid], now=night)
    with app.app_context():
        user = db.session.get(User, uid)
        preferences.save_preferences(
            user,
            enabled=["replies"],
            quiet_start=datetime.strptime("22:00", "%H:%M").time(),
            quiet_end=datetime.strptime("07:00", "%H:%M").time(),
        )
        db.session.commit()
    with deliverer(app) as d:
        assert d.run_once(night).held == 1
        row = notice(app, nid)
        assert row.status is NotificationStatus.PENDING
        assert row.not_before == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        assert d.run_once(row.not_before).sent == 1
    assert len(push.received) == 1


def test_a_muted_category_is_not_sent(app, demo, push):
    uid = user_id(demo)
    register(app, uid, push.new_subscription())
    with app.app_context():
        user = db.session.get(User, uid)
        preferences.save_preferences(user, enabled=["plan"], quiet_start=None, quiet_end=None)
        db.session.commit()
    [nid] = notify(app, uids=[uid])
    assert notice(app, nid).status is NotificationStatus.MUTED
    [plan_nid] = notify(app, "plan_changed", uids=[uid])
    with deliverer(app) as d:
        assert d.run_once().sent == 1
    assert notice(app, plan_nid).status is NotificationStatus.SENT
    assert [json.loads(m.payload)["tag"] for m in push.received] == ["plan-changed"]


def test_endpoint_removed_from_the_allow_list_is_never_called(app, demo, push, monkeypatch):
    uid = user_id(demo)
    sub = push.new_subscription()
    register(app, uid, sub)
    [nid] = notify(app, uids=[uid])
    monkeypatch.setitem(app.config, "PUSH_SERVICE_HOSTS", "fcm.googleapis.com")
    with deliverer(app) as d:
        d.run_once()
    assert push.attempts == []
    assert notice(app, nid).status is NotificationStatus.NO_DEVICE


def test_a_notice_for_a_user_without_devices_is_kept_for_the_record(app, demo, push):
    [nid] = notify(app, uids=[user_id(demo, "blake@example.com")])
    with deliverer(app) as d:
        assert d.run_once().no_device == 1
    assert notice(app, nid).status is NotificationStatus.NO_DEVICE


def test_a_disabled_account_gets_nothing(app, demo, push):
    uid = user_id(demo)
    register(app, uid, push.new_subscription())
    [nid] = notify(app, uids=[uid])
    with app.app_context():
        db.session.get(User, uid).is_active_account = False
        db.session.commit()
    with deliverer(app) as d:
        d.run_once()
    assert push.attempts == []
    row = notice(app, nid)
    assert (row.status, row.last_error) == (NotificationStatus.NO_DEVICE, "account disabled")
