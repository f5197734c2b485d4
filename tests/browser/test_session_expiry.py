"""A session that times out takes its saved pages with it: offline, they are deleted, not shown.

Today a clinician's saved panel and inbox stayed readable on the phone after the
session ended. Each saved page now carries its session's end; the service worker
deletes a user's pages once the newest of them says the session has timed out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.conftest import cache_names, controlled, saved_page, sign_in

pytestmark = pytest.mark.browser

SESSION_ENDS = """async () => {
    const ends = [];
    for (const name of await caches.keys()) {
        if (!name.startsWith('cc-pages-')) continue;
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
            ends.push((await cache.match(request)).headers.get('X-CC-Session-Ends'));
        }
    }
    return ends;
}"""

# The phone's clock passing the session's end, without waiting 15 minutes: every saved
# page's end is moved to a second ago (what the worker reads is exactly this header).
TIME_PASSES = """async () => {
    const past = new Date(Date.now() - 1000).toISOString();
    for (const name of await caches.keys()) {
        if (!name.startsWith('cc-pages-')) continue;
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
            const hit = await cache.match(request);
            const headers = new Headers(hit.headers);
            headers.set('X-CC-Session-Ends', past);
            await cache.put(request, new Response(await hit.text(), {status: 200, headers}));
        }
    }
}"""


def test_a_clinicians_saved_pages_go_when_her_session_times_out(context, page, live):
    rivera = live.users["rivera@example.com"]
    sign_in(page, "rivera@example.com")
    controlled(page)
    page.goto("/clinic/inbox")
    saved_page(page, "/clinic/inbox")
    page.goto("/clinic/")
    saved_page(page, "/clinic/")
    # Each page carries its session's end: a clinician's idle limit from now.
    ends = [datetime.fromisoformat(e.replace("Z", "+00:00")) for e in page.evaluate(SESSION_ENDS)]
    assert len(ends) == 2
    for end in ends:
        left = end - datetime.now(UTC)
        assert timedelta(minutes=13) < left <= timedelta(minutes=15, seconds=5), left

    # Within the session, offline, the saved inbox is still there.
    context.set_offline(True)
    page.goto("/clinic/inbox")
    assert page.locator("[data-offline-banner]").is_visible()
    assert page.locator("h1").inner_text() != "You are offline"

    # The session's end passes: the same request shows the offline page, and the
    # pages are gone from the phone, not merely hidden.
    page.evaluate(TIME_PASSES)
    page.goto("/clinic/")
    assert page.locator("h1").inner_text() == "You are offline"
    assert f"cc-pages-u{rivera}" not in cache_names(page)
    page.goto("/clinic/inbox")
    assert page.locator("h1").inner_text() == "You are offline"
    assert page.locator("[data-saved-list] a").count() == 0
