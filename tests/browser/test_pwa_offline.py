"""Installing, reading offline, a new version taking over, and forgetting the user at sign-out."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    CHROMIUM_ARGS,
    PHONE,
    SCREENSHOTS,
    cache_names,
    controlled,
    launch_options,
    outbox,
    saved_page,
    sign_in,
    wait_until,
    watch,
)

pytestmark = pytest.mark.browser


def test_the_portal_is_installable(playwright_instance, live, tmp_path):
    """Chromium finds nothing stopping installation (a persistent profile, as a phone has)."""
    options = launch_options()
    assert options["args"] == CHROMIUM_ARGS
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"), base_url=live.url, **options, **PHONE
    )
    problems = watch(context)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto("/login")
        controlled(page)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert manifest["url"].endswith("/manifest.webmanifest")
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors
    finally:
        context.close()
    assert not problems, problems


def test_the_saved_plan_can_be_read_offline(context, page, live):
    sign_in(page, "alex@example.com")
    controlled(page)
    page.goto(f"/p/{live.alex}/plan")
    assert page.locator("h1").inner_text() == "Your care plan"
    saved_page(page, f"/p/{live.alex}/plan")
    user = str(live.users["alex@example.com"])
    assert f"cc-pages-u{user}" in cache_names(page)

    context.set_offline(True)
    page.goto(f"/p/{live.alex}/plan")
    assert page.locator("h1").inner_text() == "Your care plan"
    assert page.get_by_text("Walk 30 minutes a day").first.is_visible()
    banner = page.locator("[data-offline-banner]")
    assert banner.is_visible()
    saved_at = r"\d{1,2}:\d\d on \d{1,2} [A-Z][a-z]{2}"  # en-GB, the browser's locale
    assert re.match(
        rf"Showing the copy saved on this phone at {saved_at}, because CareCircle could not",
        banner.inner_text(),
    ), banner.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "offline-plan.png"))
    # The page keeps its stylesheet offline (the shell was precached at install).
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.site-header')).backgroundColor"
    ) == ("rgb(11, 94, 85)")
    # A page saved before the stylesheets were bundled links each feature's file by
    # its old name: offline, the worker answers each with the precached bundle.
    old_link = page.evaluate("fetch('/static/css/goals.0123456789.css').then((r) => r.text())")
    assert "/* css/app.css */" in old_link and "/* css/goals.css */" in old_link

    # The goal pages Alex opened are there too, and logging still works (it waits).
    context.set_offline(False)
    page.goto(f"/p/{live.alex}/goals/{live.goal('Walk 30 minutes a day')}")
    saved_page(page, page.url.removeprefix(live.url))
    context.set_offline(True)
    page.reload()
    assert page.locator("h1").inner_text() == "Walk 30 minutes a day"
    assert page.locator("[data-offline-banner]").is_visible()
    assert page.locator("form[data-entry-form]").is_visible()

    # The installed app starts at "/": offline, that is the saved home page.
    context.set_offline(False)
    page.goto(f"/p/{live.alex}/")
    saved_page(page, f"/p/{live.alex}/")
    context.set_offline(True)
    page.goto("/")
    assert page.locator("h1").inner_text() == "Hello, Alex"

    # A page never opened before: the offline page, listing what is saved.
    page.goto(f"/p/{live.alex}/plan/history")
    assert page.locator("h1").inner_text() == "You are offline"
    saved = page.locator("[data-saved-list] a")
    saved.first.wait_for()
    titles = set(saved.all_inner_texts())
    assert "Your care plan" in titles
    assert any(title.startswith("Walk 30 minutes a day") for title in titles), titles


def test_a_new_version_of_the_worker_takes_over(context, page, live, monkeypatch):
    from portal.pwa import views

    sign_in(page, "alex@example.com")
    controlled(page)
    old_shell = [name for name in cache_names(page) if name.startswith("cc-shell-")]
    assert len(old_shell) == 1

    with live.app.app_context():
        source = views.worker_source()
    monkeypatch.setattr(views, "worker_source", lambda: source + "\n// the next deploy\n")
    page.evaluate(
        """() => new Promise((resolve) => {
            navigator.serviceWorker.addEventListener('controllerchange', resolve, {once: true});
            navigator.serviceWorker.getRegistration().then((r) => r.update());
        })"""
    )
    wait_until(page, "async (old) => !(await caches.keys()).includes(old)", old_shell[0])
    shells = [name for name in cache_names(page) if name.startswith("cc-shell-")]
    assert len(shells) == 1 and shells != old_shell
    # The next navigation is served by the new worker, with the current assets.
    page.goto(f"/p/{live.alex}/plan")
    css = page.evaluate("document.querySelector('link[rel=stylesheet]').href")
    assert page.evaluate("async (url) => !!(await caches.match(url))", css)


def test_sign_out_forgets_the_user_on_this_phone(context, page, live):
    alex = live.users["alex@example.com"]
    sign_in(page, "alex@example.com")
    controlled(page)
    page.goto(f"/p/{live.alex}/plan")
    saved_page(page, f"/p/{live.alex}/plan")
    assert f"cc-pages-u{alex}" in cache_names(page)
    # Something waiting in the outbox too (as if logged offline).
    page.evaluate(
        """(user) => new Promise((ok, ko) => {
            const r = indexedDB.open('carecircle', 1);
            r.onupgradeneeded = () => r.result.createObjectStore('outbox', {keyPath: 'key'})
                .createIndex('user', 'user');
            r.onsuccess = () => {
                const t = r.result.transaction('outbox', 'readwrite');
                t.objectStore('outbox').put({key: 'k-1', user, url: '/nowhere',
                    body: {note: 'walk'}, savedAt: new Date().toISOString(),
                    state: 'attention', error: 'test'});
                t.oncomplete = () => { r.result.close(); ok(); };
                t.onerror = () => ko(t.error);
            };
        })""",
        str(alex),
    )
    assert len(outbox(page)) == 1
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    with page.expect_navigation(url=re.compile(r"/login$")):
        page.get_by_role("button", name="Sign out").click()
    assert len(dialogs) == 1 and dialogs[0].startswith("1 entry has not been sent")
    assert page.get_by_text("You are signed out").is_visible()
    assert not [name for name in cache_names(page) if name.startswith("cc-pages-")]
    assert outbox(page) == []
    assert page.evaluate("document.cookie") == ""

    # Blake signs in on the same phone and, offline, finds nothing of Alex.
    sign_in(page, "blake@example.com")
    controlled(page)
    context.set_offline(True)
    page.goto(f"/p/{live.alex}/plan")
    assert page.locator("h1").inner_text() == "You are offline"
    assert "Alex" not in page.content()
    page.goto(f"/p/{live.alex}/")
    assert "Alex" not in page.content()
