"""Print or save my plan: the button is there from the first paint, works, and is
absent where no script could make it work."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import PHONE, sign_in, watch

pytestmark = pytest.mark.browser


def test_the_print_button_is_painted_with_the_page_and_prints(browser, live):
    # No service worker: it would serve the script from its cache, past the route below.
    context = browser.new_context(base_url=live.url, service_workers="block", **PHONE)
    problems = watch(context)
    try:
        page = context.new_page()
        # The script arrives well after the first paint, as on a slow phone (a routed request
        # is never served from the browser's cache): a button shown by the script, as an
        # earlier version did, moved everything below it.
        delayed: list[str] = []

        def late_script(route):
            delayed.append(route.request.url)
            time.sleep(0.4)
            route.continue_()

        page.route("**/static/js/app*.js", late_script)
        sign_in(page, "alex@example.com")
        # Every layout shift of the plan page from its first byte.
        page.add_init_script(
            """window.ccShifts = [];
            new PerformanceObserver((list) => {
              for (const entry of list.getEntries()) window.ccShifts.push(entry.value);
            }).observe({type: 'layout-shift', buffered: true});"""
        )
        delayed.clear()
        page.goto(f"/p/{live.alex}/plan")
        button = page.get_by_role("button", name="Print or save my plan as a PDF")
        assert button.is_visible()
        page.wait_for_load_state("load")
        print("DELAYED", delayed, page.evaluate("window.ccShifts"))
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 100)))")
        assert page.evaluate("window.ccShifts") == []
        page.evaluate("() => { window.ccPrinted = 0; window.print = () => { window.ccPrinted++ } }")
        button.click()
        assert page.evaluate("window.ccPrinted") == 1
    finally:
        context.close()
    assert not problems, problems


def test_without_scripts_there_is_no_button_that_cannot_work(browser, live):
    context = browser.new_context(base_url=live.url, java_script_enabled=False, **PHONE)
    try:
        page = context.new_page()
        sign_in(page, "alex@example.com")
        page.goto(f"/p/{live.alex}/plan")
        assert page.locator("[data-print]").count() == 1  # in the markup...
        assert not page.locator("[data-print]").is_visible()  # ...not shown
        assert page.get_by_role("heading", name="Goals").is_visible()  # the plan itself is
    finally:
        context.close()
