"""What people do in a real browser: log progress (also offline), talk about a goal, get notices."""

from __future__ import annotations

import base64
import json
import os
import re
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.browser.conftest import (
    PHONE,
    SCREENSHOTS,
    controlled,
    outbox,
    sign_in,
    wait_until,
    watch,
)

pytestmark = pytest.mark.browser

WALK = "Walk 30 minutes a day"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def goal_path(live, title: str = WALK) -> str:
    return f"/p/{live.alex}/goals/{live.goal(title)}"


def entry_count(live, title: str = WALK) -> int:
    return live.scalar(
        "SELECT count(*) FROM progress_entries WHERE goal_id = :g AND deleted_at IS NULL",
        g=live.goal(title),
    )


def notes(live, title: str = WALK) -> list[str]:
    rows = live.rows(
        "SELECT note FROM progress_entries WHERE goal_id = :g AND deleted_at IS NULL",
        g=live.goal(title),
    )
    return [row[0] for row in rows]


def log_walk(page, minutes: int, note: str) -> None:
    form = page.locator("form[data-entry-form]")
    form.locator("[name=value]").fill(str(minutes))
    form.locator("[name=note]").fill(note)
    form.get_by_role("button", name="Save").click()


def saved_note_focused(page) -> str:
    """Wait until a confirmation beside a form has the focus, in a live region; its text."""
    return wait_until(
        page,
        """() => { const a = document.activeElement;
            return a && a.matches('[data-saved-note][role=status]') && a.textContent.trim(); }""",
        message="no confirmation beside the form took the focus",
    )


def queue_text(page, expected: str) -> str:
    status = page.locator("[data-queue-status]")
    return wait_until(
        page,
        "(want) => { const s = document.querySelector('[data-queue-status]');"
        " return !s.hidden && s.textContent.includes(want) && s.textContent; }",
        expected,
        message=f"the page never said {expected!r}; it says {status.inner_text()!r}",
    )


def wait_for_db(page, check, message: str, timeout: float = 15.0) -> None:
    for _ in range(int(timeout * 10)):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(message)


def test_patient_signs_in_reads_the_plan_and_logs_an_entry(page, live):
    before = entry_count(live)
    sign_in(page, "alex@example.com")
    assert page.locator("h1").inner_text() == "Hello, Alex"
    page.locator(".tabs").get_by_role("link", name="Plan").click()
    assert page.locator("h1").inner_text() == "Your care plan"
    page.get_by_role("link", name=WALK).click()
    assert page.locator("h1").inner_text() == WALK
    # The script sends the form as the browser would (same idempotency key, same CSRF
    # token), then shows the page it lands on in place: no reload.
    form = re.compile(r"/p/\d+/goals/\d+/entries$")
    page.evaluate("window.notReloaded = true")
    with page.expect_request(form) as sent:
        log_walk(page, 25, "Walked to the shop and back")
    request = sent.value
    fields = dict(pair.split("=", 1) for pair in request.post_data.split("&"))
    assert UUID.match(fields["idempotency_key"]) and fields["csrf_token"]
    assert fields["value"] == "25"
    saved_note_focused(page)
    assert page.evaluate("window.notReloaded")
    assert entry_count(live) == before + 1
    assert page.get_by_text("Walked to the shop and back").is_visible()


def test_an_entry_made_offline_is_sent_once_on_reconnect(context, page, live):
    sign_in(page, "alex@example.com")
    page.goto(goal_path(live))
    controlled(page)
    before = entry_count(live)

    context.set_offline(True)
    log_walk(page, 20, "Round the park, no signal")
    assert saved_note_focused(page) == (
        "✓ Saved on this phone; it will be sent when you\N{RIGHT SINGLE QUOTATION MARK}re"
        " back online."
    )
    assert "Saved on this phone — 1 entry waiting to send" in queue_text(page, "1 entry waiting")
    waiting = outbox(page)
    assert len(waiting) == 1 and UUID.match(waiting[0]["key"])
    assert waiting[0]["user"] == str(live.users["alex@example.com"])
    assert entry_count(live) == before

    with page.expect_navigation():  # sent on the `online` event, then the page reloads
        context.set_offline(False)
    wait_for_db(page, lambda: entry_count(live) == before + 1, "the queued entry never arrived")
    assert outbox(page) == []
    assert page.locator("[data-queue-status]").is_hidden()
    assert page.get_by_text("Round the park, no signal").is_visible()

    # The same entry sent again (a retry after a lost answer) is stored once, and answered
    # as the first send was: 200 with the stored entry (409 is for another body, a conflict).
    again = page.evaluate(
        """async ([url, key, body]) => { const r = await fetch(url, {method: 'POST', headers: {
            'Content-Type': 'application/json', 'Idempotency-Key': key,
            'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
            body: JSON.stringify(body)}); return [r.status, await r.json()]; }""",
        [waiting[0]["url"], waiting[0]["key"], waiting[0]["body"]],
    )
    status, stored = again
    assert status == 200, again
    assert stored["id"] == live.scalar(
        "SELECT id FROM progress_entries WHERE idempotency_key = :k", k=waiting[0]["key"]
    )
    assert entry_count(live) == before + 1
    assert (
        live.scalar(
            "SELECT count(*) FROM progress_entries WHERE idempotency_key = :k", k=waiting[0]["key"]
        )
        == 1
    )


def test_two_walks_logged_offline_arrive_after_the_page_is_closed_and_reopened(context, page, live):
    sign_in(page, "alex@example.com")
    page.goto(goal_path(live))
    controlled(page)
    before = entry_count(live)

    context.set_offline(True)
    log_walk(page, 30, "Morning walk, offline")
    queue_text(page, "1 entry waiting")
    log_walk(page, 15, "Evening walk, offline")
    queue_text(page, "2 entries waiting")
    assert len(outbox(page)) == 2
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "offline-entries-waiting.png"))
    page.close()  # Alex puts the phone away

    context.set_offline(False)
    reopened = context.new_page()
    reopened.goto(f"/p/{live.alex}/")
    wait_for_db(reopened, lambda: entry_count(live) == before + 2, "the two walks never arrived")
    wait_until(reopened, "() => document.readyState === 'complete'")
    reopened.wait_for_load_state()
    assert outbox(reopened) == []
    reopened.wait_for_timeout(500)  # nothing is sent twice, however often the page loads
    reopened.reload()
    reopened.wait_for_timeout(500)
    assert entry_count(live) == before + 2
    assert {"Morning walk, offline", "Evening walk, offline"} <= set(notes(live))


def test_an_entry_the_server_refuses_stays_visible(context, page, live):
    sign_in(page, "alex@example.com")
    page.goto(goal_path(live))
    controlled(page)
    before = entry_count(live)
    context.set_offline(True)
    log_walk(page, 5000, "Far too far")  # more minutes than a day has
    queue_text(page, "1 entry waiting")
    context.set_offline(False)
    queue_text(page, "could not be sent")
    assert entry_count(live) == before
    [item] = outbox(page)
    assert item["state"] == "attention"
    page.get_by_role("button", name="Discard").click()
    wait_until(page, "() => document.querySelector('[data-queue-status]').hidden")
    assert outbox(page) == []


def test_a_clinician_replies_on_a_goal_and_the_patient_sees_it(browser, live):
    reply = f"Great work this week, Alex. Keep it up! ({uuid.uuid4().hex[:6]})"
    rivera = browser.new_context(base_url=live.url, **PHONE)
    problems = watch(rivera)
    try:
        page = rivera.new_page()
        sign_in(page, "rivera@example.com")
        page.goto(goal_path(live))
        page.locator("form.reply-form textarea").fill(reply)
        with page.expect_navigation():
            page.get_by_role("button", name="Send reply").click()
        assert page.get_by_text(reply).is_visible()
    finally:
        rivera.close()
    alex = browser.new_context(base_url=live.url, **PHONE)
    problems += watch(alex)
    try:
        page = alex.new_page()
        sign_in(page, "alex@example.com")
        page.goto(goal_path(live))
        assert page.get_by_text(reply).is_visible()
    finally:
        alex.close()
    assert not problems, problems


def _registration_id(context, page) -> str:
    cdp = context.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    for _ in range(50):
        live_ones = [r for r in registrations if not r.get("isDeleted")]
        if live_ones:
            return live_ones[-1]["registrationId"], cdp
        page.wait_for_timeout(100)
    raise AssertionError("no service worker registration reported over CDP")


def _push(page, cdp, live, registration: str, payload: dict, shown_script: str):
    """Deliver a push message over CDP and wait until `shown_script` finds its notification.

    Once, on a fresh CI run, the second of two messages delivered with
    ServiceWorker.deliverPushMessage was never shown (15 s wait; it did not
    happen again in eight runs since). Delivery over CDP is the test's transport,
    not the thing under test, so a message not shown within 5 s is delivered
    again, up to three times; what the worker shows is still checked in full.
    """
    for attempt in range(3):
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live.url, "registrationId": registration, "data": json.dumps(payload)},
        )
        try:
            return wait_until(page, shown_script, timeout=5.0)
        except AssertionError:
            if attempt == 2:
                raise AssertionError(
                    f"push {payload.get('tag')!r} not shown after 3 deliveries; "
                    f"showing: {page.evaluate(NOTIFICATIONS)}"
                ) from None
    raise AssertionError("unreachable")


NOTIFICATIONS = """() => navigator.serviceWorker.ready
    .then((r) => r.getNotifications())
    .then((list) => list.map((n) => (
        {title: n.title, body: n.body, tag: n.tag, url: n.data.url})))"""


def test_a_push_message_shows_a_notification_that_opens_the_page(context, page, live):
    context.grant_permissions(["notifications"], origin=live.url)
    sign_in(page, "alex@example.com")
    controlled(page)
    registration, cdp = _registration_id(context, page)
    target = goal_path(live) + "#thread"
    payload = {
        "title": "New reply from your care team",
        "body": "Sign in to read it.",
        "url": target,
        "tag": "goal-reply",
    }
    [shown] = _push(page, cdp, live, registration, payload, NOTIFICATIONS)
    assert shown == {**payload, "url": target}

    # A payload pointing off-site opens the portal's home instead.
    shown = _push(
        page,
        cdp,
        live,
        registration,
        {"title": "x", "url": "https://evil.example/", "tag": "other"},
        f"() => ({NOTIFICATIONS})().then((l) => l.some((n) => n.tag === 'other') && l)",
    )
    assert {n["tag"]: n["url"] for n in shown} == {"goal-reply": target, "other": "/"}

    # Clicking the notice: the worker's click handler moves the open window to its page.
    [worker] = context.service_workers
    with page.expect_navigation(url=re.compile(re.escape(target) + "$")):
        worker.evaluate(
            """async (tag) => {
                const [n] = await self.registration.getNotifications({tag});
                await openNotification(n);
            }""",
            "goal-reply",
        )
    assert page.locator("h1").inner_text() == WALK


def _fake_subscription() -> dict:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {
        "endpoint": f"https://fcm.googleapis.com/fcm/send/browser-suite-{uuid.uuid4().hex}",
        "expirationTime": None,
        "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))},
    }


STUB_PUSH_MANAGER = """(subscription) => {
    window.__subscribeCalls = [];
    PushManager.prototype.getSubscription = async function () { return null; };
    PushManager.prototype.subscribe = async function (options) {
        window.__subscribeCalls.push({
            userVisibleOnly: options.userVisibleOnly,
            keyBytes: new Uint8Array(options.applicationServerKey).length,
        });
        return {endpoint: subscription.endpoint, toJSON: () => subscription,
                unsubscribe: async () => true};
    };
}"""


def test_turning_on_notifications_registers_this_phone(context, page, live):
    """A real subscribe() needs a push service; a stubbed pushManager feeds the real API."""
    subscription = _fake_subscription()
    context.add_init_script(script=f"({STUB_PUSH_MANAGER})({json.dumps(subscription)})")
    context.grant_permissions(["notifications"], origin=live.url)
    sign_in(page, "alex@example.com")
    controlled(page)
    page.goto("/settings/notifications")
    assert page.evaluate("window.__subscribeCalls") == []  # never on load
    page.locator("[data-push-enable]").click()
    status = page.locator("[data-push-status]")
    wait_until(
        page,
        "() => document.querySelector('[data-push-status]').textContent.length > 0",
    )
    assert status.inner_text() == "Notifications are on for this phone.", status.inner_text()
    [call] = page.evaluate("window.__subscribeCalls")
    assert call["userVisibleOnly"] is True
    assert call["keyBytes"] == 65  # the server's VAPID public key, decoded
    rows = live.rows(
        "SELECT user_id, p256dh, auth FROM push_subscriptions WHERE endpoint = :e",
        e=subscription["endpoint"],
    )
    assert [tuple(r) for r in rows] == [
        (
            live.users["alex@example.com"],
            subscription["keys"]["p256dh"],
            subscription["keys"]["auth"],
        )
    ]


def test_keyboard_alone_signs_in_and_logs_an_entry(page, live):
    """No mouse, no touch: Tab, type and Enter."""

    def tab_to(selector: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    before = entry_count(live)
    page.goto("/login")
    tab_to("#email")
    page.keyboard.type("alex@example.com")
    tab_to("#password")
    page.keyboard.type("demo-password-2026")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(f"a[href='{goal_path(live)}']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to("form[data-entry-form] [name=value]")
    page.keyboard.type("12")
    page.keyboard.press("Enter")
    assert "Saved: " in saved_note_focused(page)
    assert entry_count(live) == before + 1
