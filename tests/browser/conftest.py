"""The browser suite: the portal served on a free port, driven in Debian's Chromium.

- One live server per session: the app on its own SQLite file, seeded with the
  demo clinic, served by werkzeug in a thread (never the unit tests' database).
- One Chromium per session (Playwright, `executable_path=/usr/bin/chromium`; no
  browser is ever downloaded) and a new context per test: a phone, 360 x 740,
  touch, no state shared between tests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select, text, update
from werkzeug.serving import make_server

from portal import create_app
from portal.auth.models import User
from portal.extensions import db
from portal.patients import Patient

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "en-GB",
    "timezone_id": "UTC",
}
DEMO_PASSWORD = "demo-password-2026"
REPO = Path(__file__).resolve().parents[2]
# Screenshots go to test-artifacts/ (git-ignored); `make screenshots` sets
# UPDATE_SCREENSHOTS=1 to refresh the README's pictures in docs/screenshots/.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else REPO / "test-artifacts" / "screenshots"
)


@dataclass
class LiveServer:
    """The running portal, and a way to look at its database."""

    url: str
    app: Flask
    users: dict[str, int]
    patients: dict[str, int]

    @property
    def alex(self) -> int:
        return self.patients["Alex"]

    @property
    def blake(self) -> int:
        return self.patients["Blake"]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.app.app_context():
            try:
                return db.session.execute(text(sql), params).scalar()
            finally:
                db.session.remove()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.app.app_context():
            try:
                return list(db.session.execute(text(sql), params))
            finally:
                db.session.remove()

    def goal(self, title: str, patient_id: int | None = None) -> int:
        return self.scalar(
            "SELECT id FROM goals WHERE patient_id = :p AND title = :t",
            p=patient_id or self.alex,
            t=title,
        )


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("live")
    app = create_app(
        {
            "PORTAL_ENV": "test",
            "SECRET_KEY": "browser-suite-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/live.db",
            # Many sign-ins from one address in a few minutes: no throttling here.
            "LOGIN_SLOW_AFTER": 1000,
            "LOGIN_LOCK_AFTER": 1000,
        }
    )
    from portal.demo import seed

    with app.app_context():
        db.create_all()
        seed()
        db.session.commit()
        users = {u.email: u.id for u in db.session.scalars(select(User))}
        patients = {p.given_name: p.id for p in db.session.scalars(select(Patient))}
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    _LIVE_APPS.append(app)
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, users, patients)
    finally:
        _LIVE_APPS.remove(app)
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser suite drives Debian's Chromium and never "
            "downloads one. Install it with `apt-get install -y chromium` "
            "(or `bash scripts/ensure-system-deps.sh chromium`).",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def playwright_instance():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch_options() -> dict[str, Any]:
    return {"executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(**launch_options())
    yield browser
    browser.close()


def watch(context) -> list[str]:
    """Collect what must never happen on a page: a CSP refusal or an uncaught script error."""
    problems: list[str] = []

    def console(message) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    context.on("console", console)
    context.on("weberror", lambda error: problems.append(f"script error: {error.error}"))
    return problems


@pytest.fixture()
def context(browser, live):
    """A fresh phone for each test: its own cookies, caches, IndexedDB and service worker."""
    context = browser.new_context(base_url=live.url, **PHONE)
    context.set_default_timeout(15_000)
    problems = watch(context)
    yield context
    context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture()
def page(context):
    return context.new_page()


# The live server's app, for sign_in's second step (one per session).
_LIVE_APPS: list[Flask] = []


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    if "/login/code" in page.url:  # clinicians: the code from the authenticator app
        page.fill("#code", current_code(email))
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
    assert "/login" not in page.url, f"sign-in as {email} failed"


def current_code(email: str) -> str:
    """The code the account's authenticator app shows now (any earlier use of it forgotten).

    The suite signs the same clinician in more often than a code changes; replay
    refusal is tested in tests/test_mfa.py.
    """
    from portal.auth import mfa
    from portal.auth.mfa_models import TotpCredential

    app = _LIVE_APPS[-1]
    with app.app_context():
        try:
            user_id = db.session.scalar(select(User.id).where(User.email == email))
            db.session.execute(
                update(TotpCredential)
                .where(TotpCredential.user_id == user_id)
                .values(last_step=None)
            )
            db.session.commit()
            return mfa.totp(mfa.secret_of(user_id)).now()
        finally:
            db.session.remove()


def wait_until(page, script: str, arg: Any = None, timeout: float = 15.0, message: str = "") -> Any:
    """Poll `script` (a JS function, maybe async) in the page until it returns something truthy.

    (Playwright's wait_for_function evaluates strings, which the portal's CSP forbids.)
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = page.evaluate(script, arg)
        except PlaywrightError as error:  # the page navigated (a reload after sending)
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message or f"timed out waiting for {script}")
        page.wait_for_timeout(100)


def controlled(page) -> None:
    """Wait until the service worker is active and controls this page.

    A page whose navigation began while the worker was still installing is not
    claimed by it (as on a phone, the next page is): reload it once then.
    """
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    check = "() => !!navigator.serviceWorker.controller"
    try:
        wait_until(page, check, timeout=3)
    except AssertionError:
        page.reload()
        wait_until(page, check, message="no service worker took control of the page")


def saved_page(page, path: str) -> None:
    """Wait until the service worker has saved `path` for reading offline."""
    wait_until(
        page,
        """async (path) => {
            for (const name of await caches.keys()) {
                if (name.startsWith('cc-pages-') && await (await caches.open(name)).match(path)) {
                    return true;
                }
            }
            return false;
        }""",
        path,
        message=f"{path} was not saved for offline reading",
    )


def cache_names(page) -> list[str]:
    return page.evaluate("caches.keys()")


def outbox(page) -> list[dict]:
    """Every record in the offline queue, whoever it belongs to ([] when there is none)."""
    return wait_until(
        page,
        """async () => {
            const names = (await indexedDB.databases()).map((d) => d.name);
            if (!names.includes('carecircle')) return {items: []};
            const db = await new Promise((ok, ko) => {
                const r = indexedDB.open('carecircle');
                r.onsuccess = () => ok(r.result);
                r.onerror = () => ko(r.error);
            });
            try {
                if (!db.objectStoreNames.contains('outbox')) return {items: []};
                return await new Promise((ok, ko) => {
                    const r = db.transaction('outbox').objectStore('outbox').getAll();
                    r.onsuccess = () => ok({items: r.result});
                    r.onerror = () => ko(r.error);
                });
            } finally {
                db.close();
            }
        }""",
    )["items"]
