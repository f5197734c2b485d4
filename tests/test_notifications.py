"""Notifications without a push service: devices and the allow-list, preferences, quiet
hours, digests, reminders, plan notices, VAPID keys, the settings page and the CLI."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, time, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from sqlalchemy import func, select

from portal.access import resolve
from portal.auth.models import User
from portal.extensions import db
from portal.notifications import endpoints, enqueue, kinds, preferences, services, vapid
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationStatus,
    PushSubscription,
)
from portal.notifications.reminders import enqueue_due_reminders
from tests.conftest import text_of
from tests.pushservice import PushService

ALEX = "alex@example.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def browser_keys() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"p256dh": b64(raw), "auth": b64(b"0123456789abcdef")}


def subscription(endpoint: str) -> dict:
    return {"endpoint": endpoint, "expirationTime": None, "keys": browser_keys()}


@pytest.fixture
def push(app, monkeypatch):
    with PushService() as service:
        monkeypatch.setitem(app.config, "PUSH_SERVICE_HOSTS", service.origin)
        yield service


def count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


# -- the push API ------------------------------------------------------------------------------


def test_subscribe_update_list_and_remove(app, demo, push):
    alex = demo.login(ALEX)
    sub = push.new_subscription()
    first = alex.api("POST", "/api/v1/push/subscriptions", json=sub.info)
    assert first.status_code == 201
    body = first.get_json()
    assert body["push_service"] == push.origin
    assert "keys" not in body and "endpoint" not in body  # the capability URL is not echoed
    again = alex.api("POST", "/api/v1/push/subscriptions", json=sub.info)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    listed = alex.get("/api/v1/push/subscriptions").get_json()["subscriptions"]
    assert [d["id"] for d in listed] == [body["id"]]
    assert alex.api("DELETE", f"/api/v1/push/subscriptions/{body['id']}").status_code == 204
    assert count(app, PushSubscription) == 0
    assert alex.api("DELETE", f"/api/v1/push/subscriptions/{body['id']}").status_code == 404


def test_another_users_device_is_not_found(app, demo, push):
    alex, blake = demo.login(ALEX), demo.login("blake@example.com")
    device = alex.api("POST", "/api/v1/push/subscriptions", json=push.new_subscription().info)
    response = blake.api("DELETE", f"/api/v1/push/subscriptions/{device.get_json()['id']}")
    assert response.status_code == 404
    assert count(app, PushSubscription) == 1


def test_subscribe_needs_csrf(demo, push):
    alex = demo.login(ALEX)
    response = alex.post("/api/v1/push/subscriptions", json=push.new_subscription().info)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example/push/abc",
        "http://127.0.0.1:1/push/abc",  # same host as the stand-in, another port
        "https://127.0.0.1/push/abc",
        "javascript:alert(1)",
        "not a url",
        "",
    ],
)
def test_endpoints_off_the_allow_list_are_refused(app, demo, push, endpoint):
    alex = demo.login(ALEX)
    response = alex.api("POST", "/api/v1/push/subscriptions", json=subscription(endpoint))
    assert response.status_code == 422
    assert "endpoint" in response.get_json()["fields"]
    assert count(app, PushSubscription) == 0


def test_the_stand_in_origin_is_allowed_only_on_its_own_port(app, demo, push):
    alex = demo.login(ALEX)
    port = int(push.origin.rsplit(":", 1)[1])
    other = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/push/x"
    refused = alex.api("POST", "/api/v1/push/subscriptions", json=subscription(other))
    assert refused.status_code == 422
    ok = alex.api("POST", "/api/v1/push/subscriptions", json=push.new_subscription().info)
    assert ok.status_code == 201


def test_default_allow_list_names_the_browsers_push_services(app):
    hosts = app.config["PUSH_SERVICE_HOSTS"]
    allowed = [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://wns2-par02p.notify.windows.com/w/?token=abc",
        "https://web.push.apple.com/QGx",
    ]
    refused = [
        "http://fcm.googleapis.com/fcm/send/abc",  # HTTPS implied
        "https://fcm.googleapis.com:8443/fcm/send/abc",
        "https://user:pw@fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com.evil.example/x",
        "https://notify.windows.com.evil.example/x",
        "https://evilnotify.windows.com/x",
    ]
    assert all(endpoints.endpoint_allowed(e, hosts) for e in allowed)
    assert not any(endpoints.endpoint_allowed(e, hosts) for e in refused)


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"p256dh": "not-base64!", "auth": b64(b"0123456789abcdef")}, "keys.p256dh"),
        ({"p256dh": b64(b"\x04" + b"\x01" * 64), "auth": b64(b"0123456789abcdef")}, "keys.p256dh"),
        ({"auth": b64(b"0123456789abcdef")}, "keys.p256dh"),
        ({"p256dh": None, "auth": "short"}, "keys.auth"),
    ],
)
def test_malformed_keys_are_refused(app, demo, push, keys, field):
    alex = demo.login(ALEX)
    body = {"endpoint": push.new_subscription().endpoint, "keys": keys}
    response = alex.api("POST", "/api/v1/push/subscriptions", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]


def test_a_user_holds_a_bounded_number_of_devices(app, demo, push, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_MAX_SUBSCRIPTIONS", 2)
    alex = demo.login(ALEX)
    subs = [push.new_subscription() for _ in range(3)]
    for sub in subs[:2]:
        assert alex.api("POST", "/api/v1/push/subscriptions", json=sub.info).status_code == 201
    refused = alex.api("POST", "/api/v1/push/subscriptions", json=subs[2].info)
    assert refused.status_code == 409
    assert "Remove a device" in refused.get_json()["error"]
    # Registering a device already held is still fine at the limit.
    assert alex.api("POST", "/api/v1/push/subscriptions", json=subs[0].info).status_code == 200
    assert count(app, PushSubscription) == 2


def test_a_browser_moves_to_the_account_that_subscribed_last(app, demo, push):
    sub = push.new_subscription()
    alex, blake = demo.login(ALEX), demo.login("blake@example.com")
    assert alex.api("POST", "/api/v1/push/subscriptions", json=sub.info).status_code == 201
    assert blake.api("POST", "/api/v1/push/subscriptions", json=sub.info).status_code == 201
    assert count(app, PushSubscription, user_id=demo.users[ALEX]) == 0
    assert count(app, PushSubscription, user_id=demo.users["blake@example.com"]) == 1


def test_vapid_public_key_endpoint_and_openapi(app, demo):
    alex = demo.login(ALEX)
    key = alex.get("/api/v1/push/vapid-public-key").get_json()["publicKey"]
    assert key == vapid.public_key(app)
    raw = base64.urlsafe_b64decode(key + "==")
    assert len(raw) == 65 and raw[0] == 4
    paths = alex.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/push/subscriptions"])
    assert "delete" in paths["/push/subscriptions/{subscription_id}"]
    assert "get" in paths["/push/vapid-public-key"]


# -- the settings page -------------------------------------------------------------------------


def test_settings_page_offers_push_controls_and_works_without_javascript(app, demo):
    alex = demo.login(ALEX)
    page = alex.get("/settings/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-vapid-public-key="{vapid.public_key(app)}"' in html
    assert "data-push-controls" in html and "data-push-enable" in html
    text = text_of(page)
    assert "Turn on notifications" in text
    assert "needs JavaScript" in text
    assert "Replies from your care team" in text and "Daily goal reminder" in text
    assert "Patient activity" not in text  # a clinician's category
    clinician = text_of(demo.login("rivera@example.com").get("/settings/notifications"))
    assert "Patient activity" in clinician and "Daily goal reminder" not in clinician


def test_saving_preferences(app, demo):
    alex = demo.login(ALEX)
    response = alex.submit(
        "/settings/notifications",
        {
            "category_replies": "y",
            "category_reminders": "y",
            "category_decisions": "y",
            "category_caregiving": "y",  # who helps them (portal/caregivers)
            "reminder_time": "18:30",
            "quiet_start": "21:30",
            "quiet_end": "07:00",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        pref = db.session.get(NotificationPreference, demo.users[ALEX])
        assert pref.muted == ["plan"]
        assert (pref.quiet_start, pref.quiet_end) == (time(21, 30), time(7, 0))
        assert pref.reminder_time == time(18, 30)
    page = alex.get("/settings/notifications").get_data(as_text=True)
    assert 'value="21:30"' in page and 'value="18:30"' in page


def test_quiet_hours_need_both_ends(app, demo):
    alex = demo.login(ALEX)
    response = alex.submit("/settings/notifications", {"quiet_start": "21:30"})
    assert response.status_code == 422
    assert "There is a problem" in text_of(response)
    assert "Enter when quiet hours end" in text_of(response)
    bad = alex.submit("/settings/notifications", {"quiet_start": "9pm", "quiet_end": "7"})
    assert bad.status_code == 422 and "Enter a time like 21:30" in text_of(bad)
    assert count(app, NotificationPreference) == 0


def test_devices_are_listed_and_removable_in_settings(app, demo, push):
    alex = demo.login(ALEX)
    alex.api(
        "POST",
        "/api/v1/push/subscriptions",
        json=push.new_subscription().info,
        headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/140.0 Mobile Safari/537"},
    )
    page = alex.get("/settings/notifications")
    assert "Chrome on Android" in text_of(page)
    with app.app_context():
        device_id = db.session.scalar(select(PushSubscription.id))
    assert (
        demo.login("blake@example.com")
        .submit(f"/settings/notifications/devices/{device_id}/remove")
        .status_code
        == 404
    )
    removed = alex.submit(f"/settings/notifications/devices/{device_id}/remove")
    assert removed.status_code == 302
    assert count(app, PushSubscription) == 0
    assert "No devices get notifications yet" in text_of(alex.get("/settings/notifications"))


# -- enqueue, quiet hours, digests ------------------------------------------------------------


def set_prefs(app, email_id: int, **fields) -> None:
    with app.app_context():
        pref = db.session.get(NotificationPreference, email_id) or NotificationPreference(
            user_id=email_id, muted=[]
        )
        for name, value in fields.items():
            setattr(pref, name, value)
        db.session.add(pref)
        db.session.commit()


def rows(app, **where) -> list[Notification]:
    with app.app_context():
        query = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def test_enqueue_refuses_unknown_kinds_and_outside_urls(app, demo):
    with app.test_request_context():
        with pytest.raises(ValueError, match="unknown notification kind"):
            enqueue("nonsense", [demo.users[ALEX]], url="/")
        with pytest.raises(ValueError, match="path inside the portal"):
            enqueue("goal_reply", [demo.users[ALEX]], url="https://evil.example/")


def test_quiet_hours_across_midnight_and_dst():
    pref = NotificationPreference(quiet_start=time(22), quiet_end=time(7), muted=[])
    zone = preferences.zone_of("America/New_York")
    evening = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)  # 22:00 EST on 7 March; DST starts 8 March
    assert preferences.quiet_until(pref, zone, evening) == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    early = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # 05:00 EST
    assert preferences.quiet_until(pref, zone, early) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    day = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # noon
    assert preferences.quiet_until(pref, zone, day) is None
    lunch = NotificationPreference(quiet_start=time(12), quiet_end=time(13), muted=[])
    assert preferences.quiet_until(lunch, zone, day) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_patient_activity_is_a_digest_per_patient_per_clinician_per_hour(app, demo):
    clinicians = [demo.users["rivera@example.com"], demo.users["lee@example.com"]]
    at = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    with app.test_request_context():
        for minutes in (0, 10, 50):  # three entries in one hour
            enqueue(
                "patient_activity",
                clinicians,
                url=f"/p/{demo.alex}/",
                patient_id=demo.alex,
                dedupe_key=services.activity_dedupe_key(demo.alex, at + timedelta(minutes=minutes)),
                now=at + timedelta(minutes=minutes),
            )
        enqueue(  # the next hour
            "patient_activity",
            clinicians,
            url=f"/p/{demo.alex}/",
            patient_id=demo.alex,
            dedupe_key=services.activity_dedupe_key(demo.alex, at + timedelta(hours=1)),
            now=at + timedelta(hours=1),
        )
        enqueue(  # another patient, same hour
            "patient_activity",
            clinicians[:1],
            url=f"/p/{demo.blake}/",
            patient_id=demo.blake,
            dedupe_key=services.activity_dedupe_key(demo.blake, at),
            now=at,
        )
        db.session.commit()
    # The key the goal services format themselves: patient_activity:{pid}:{user_id}:{hour}.
    assert services.activity_dedupe_key(7, at) == "patient_activity:7:{user_id}:2026112614"
    found = rows(app, kind="patient_activity")
    per = {(n.user_id, n.patient_id) for n in found}
    assert len(found) == 5
    assert per == {(c, demo.alex) for c in clinicians} | {(clinicians[0], demo.blake)}


def test_muted_category_is_kept_but_not_sent(app, demo):
    uid = demo.users[ALEX]
    set_prefs(app, uid, muted=["replies"])
    with app.test_request_context():
        enqueue("goal_reply", [uid], url="/")
        enqueue("plan_changed", [uid], url="/")
        db.session.commit()
    statuses = {n.kind: n.status for n in rows(app)}
    assert statuses == {
        "goal_reply": NotificationStatus.MUTED,
        "plan_changed": NotificationStatus.PENDING,
    }


def test_plan_change_notifies_the_patient_once_an_hour(app, demo):
    at = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    with app.test_request_context():
        rivera = resolve(db.session.get(User, demo.users["rivera@example.com"]), demo.alex)
        alex = resolve(db.session.get(User, demo.users[ALEX]), demo.alex)
        assert len(services.notify_plan_changed(rivera, at)) == 1
        assert services.notify_plan_changed(rivera, at + timedelta(minutes=30)) == []
        assert services.notify_plan_changed(alex, at + timedelta(hours=2)) == []  # own change
        assert len(services.notify_plan_changed(rivera, at + timedelta(hours=1))) == 1
        db.session.commit()
    found = rows(app, kind="plan_changed")
    assert [n.user_id for n in found] == [demo.users[ALEX]] * 2
    assert found[0].url == f"/p/{demo.alex}/plan"


# -- daily reminders ---------------------------------------------------------------------------


def reminders(app, now: datetime) -> int:
    with app.test_request_context():
        n = enqueue_due_reminders(now)
        db.session.commit()
        return n


def test_reminders_once_per_local_day_at_the_chosen_time(app, demo):
    uid = demo.users[ALEX]  # America/New_York: 18:00 there is 23:00 UTC in November
    set_prefs(app, uid, reminder_time=time(18, 0))
    day = datetime(2026, 11, 26, tzinfo=UTC)
    assert reminders(app, day + timedelta(hours=22, minutes=59)) == 0  # 17:59 local
    assert reminders(app, day + timedelta(hours=23)) == 1
    assert reminders(app, day + timedelta(hours=23, minutes=30)) == 0
    assert reminders(app, day + timedelta(hours=28)) == 0  # after midnight UTC, same local day
    assert reminders(app, day + timedelta(days=1, hours=23, minutes=5)) == 1
    found = rows(app, kind="goal_reminder")
    assert [n.dedupe_key for n in found] == [
        f"goal_reminder:{uid}:2026-11-26",
        f"goal_reminder:{uid}:2026-11-27",
    ]
    assert found[0].url == f"/p/{demo.alex}/"


def test_reminders_are_skipped_when_muted_or_long_missed(app, demo):
    uid = demo.users[ALEX]
    set_prefs(app, uid, reminder_time=time(8, 0), muted=["reminders"])
    day = datetime(2026, 11, 26, tzinfo=UTC)
    assert reminders(app, day + timedelta(hours=13, minutes=1)) == 0  # 08:01 local, muted
    set_prefs(app, uid, muted=[])
    assert reminders(app, day + timedelta(hours=18)) == 0  # 13:00 local: too late today
    assert reminders(app, day + timedelta(days=1, hours=13, minutes=1)) == 1


def test_reminders_even_when_two_deliverers_race(app, demo):
    uid = demo.users[ALEX]
    set_prefs(app, uid, reminder_time=time(18, 0))
    at = datetime(2026, 11, 26, 23, 1, tzinfo=UTC)
    assert reminders(app, at) == 1
    set_prefs(app, uid, last_reminder_on=None)  # a second deliverer that had not seen it yet
    assert reminders(app, at) == 0
    assert len(rows(app, kind="goal_reminder")) == 1


# -- kinds and VAPID ---------------------------------------------------------------------------


def test_every_kind_is_well_formed_and_free_of_placeholders():
    for kind in kinds.KINDS.values():
        assert kind.category in kinds.CATEGORIES
        assert len(kind.topic) <= 32 and kind.urgency in kinds.URGENCIES
        assert "{" not in kind.title + kind.body  # fixed words: nothing about the patient
    with pytest.raises(ValueError, match="TTL of 0"):
        kinds.Kind("x", "replies", "t", "b", topic="x", ttl=0)


def test_vapid_key_is_generated_once_into_the_instance_folder(tmp_path):
    path = vapid.key_file_for(tmp_path)
    first = vapid.load_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = vapid.load_or_create_key_file(path)
    assert first.private_key.private_numbers() == second.private_key.private_numbers()


def test_vapid_key_from_settings(app, monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    raw = b64(key.private_numbers().private_value.to_bytes(32, "big"))
    expected = b64(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    for setting in (pem, raw):
        monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", setting)
        vapid.forget_key(app)
        assert vapid.public_key(app) == expected
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", "nonsense")
    vapid.forget_key(app)
    with pytest.raises(vapid.VapidError):
        vapid.server_key(app)
    vapid.forget_key(app)


def test_vapid_tokens_are_cached_per_origin_until_near_expiry():
    clock = [1_000_000.0]
    signer = vapid.VapidSigner(
        Vapid02(ec.generate_private_key(ec.SECP256R1())),
        "mailto:privacy@carecircle.example",
        clock=lambda: clock[0],
    )
    a = signer.authorization("https://fcm.googleapis.com")
    assert signer.authorization("https://fcm.googleapis.com") == a
    b = signer.authorization("https://updates.push.services.mozilla.com")
    assert a != b and signer.signatures == 2
    clock[0] += vapid.TOKEN_LIFETIME - vapid.REFRESH_BEFORE + 1
    assert signer.authorization("https://fcm.googleapis.com") != a
    assert signer.signatures == 3
    with pytest.raises(vapid.VapidError):
        vapid.VapidSigner(signer.key, "privacy@carecircle.example")


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_vapid_keys_prints_the_public_key(app):
    result = app.test_cli_runner().invoke(args=["notify", "vapid-keys"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == vapid.public_key(app)


def test_cli_deliver_drains_the_outbox_once(app, demo, push):
    sub = push.new_subscription()
    alex = demo.login(ALEX)
    alex.api("POST", "/api/v1/push/subscriptions", json=sub.info)
    with app.test_request_context():
        enqueue("goal_reply", [demo.users[ALEX]], url="/")
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["notify", "deliver"])
    assert result.exit_code == 0, result.output
    assert "Delivered 1 of 1" in result.output
    assert len(push.wait_for(1)) == 1


def test_deliver_loop_stops_cleanly(app, demo, push):
    import threading

    from portal.notifications.delivery import deliver_forever

    sub = push.new_subscription()
    demo.login(ALEX).api("POST", "/api/v1/push/subscriptions", json=sub.info)
    with app.test_request_context():
        enqueue("goal_reply", [demo.users[ALEX]], url="/")
        db.session.commit()
    stop = threading.Event()
    passes = []

    def on_pass(stats):
        passes.append(stats)
        if stats.sent:
            stop.set()

    thread = threading.Thread(
        target=deliver_forever,
        args=(app,),
        kwargs={"interval": 0.1, "stop": stop, "on_pass": on_pass},
    )
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert sum(p.sent for p in passes) == 1
    assert len(push.received) == 1


def test_cli_vapid_keys_new_prints_a_usable_private_key(app):
    result = app.test_cli_runner().invoke(args=["notify", "vapid-keys", "--new"])
    assert result.exit_code == 0, result.output
    setting_line, public_line = result.output.strip().splitlines()
    private = setting_line.removeprefix("VAPID_PRIVATE_KEY=")
    assert public_line == f"public key: {vapid.public_key_of(vapid.load_key(private))}"


def test_production_needs_the_vapid_key_setting(tmp_path):
    from flask import Flask

    prod = Flask("prod", instance_path=str(tmp_path))
    prod.config.update(PORTAL_ENV="production", TESTING=False, VAPID_PRIVATE_KEY="")
    with pytest.raises(vapid.VapidError, match="VAPID_PRIVATE_KEY"):
        vapid.server_key(prod)
    assert not vapid.key_file_for(tmp_path).exists()
    development = Flask("dev", instance_path=str(tmp_path))
    development.config.update(PORTAL_ENV="development", TESTING=False, VAPID_PRIVATE_KEY="")
    assert vapid.public_key(development) == vapid.public_key(development)
    assert vapid.key_file_for(tmp_path).exists()
