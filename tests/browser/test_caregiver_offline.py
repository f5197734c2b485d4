"""A revoked caregiver's phone forgets that patient's saved pages the next time it is online."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from portal.caregivers.models import Grant
from portal.db import utcnow
from portal.extensions import db
from tests.browser.conftest import controlled, saved_page, sign_in, wait_until

pytestmark = pytest.mark.browser


def _set_revoked(live, revoked: bool) -> None:
    with live.app.app_context():
        db.session.execute(
            update(Grant)
            .where(Grant.caregiver_id == live.users["sam@example.com"])
            .values(revoked_at=utcnow() if revoked else None)
        )
        db.session.commit()
        db.session.remove()


def _saved(page, path: str) -> bool:
    return page.evaluate(
        """async (path) => {
            for (const name of await caches.keys()) {
                if (name.startsWith('cc-pages-') && await (await caches.open(name)).match(path)) {
                    return true;
                }
            }
            return false;
        }""",
        path,
    )


def test_a_revoked_caregivers_phone_deletes_the_patients_saved_pages(context, page, live):
    sign_in(page, "sam@example.com")
    controlled(page)
    plan, home = f"/p/{live.alex}/plan", f"/p/{live.alex}/"
    page.goto(plan)
    assert "Acting for: Alex Morgan" in page.locator(".patient-nav__whose").inner_text()
    saved_page(page, plan)
    page.goto(home)
    saved_page(page, home)
    try:
        _set_revoked(live, True)
        # Back online on any other page: the worker asks which patients are still open.
        page.goto("/helping")
        wait_until(
            page,
            """async (paths) => {
                for (const name of await caches.keys()) {
                    if (!name.startsWith('cc-pages-')) continue;
                    const cache = await caches.open(name);
                    for (const path of paths) if (await cache.match(path)) return false;
                }
                return true;
            }""",
            [plan, home],
            message="Alex's saved pages were kept after the grant was revoked",
        )
        assert not _saved(page, plan) and not _saved(page, home)
        assert "Alex" not in page.locator("main").inner_text()
    finally:
        _set_revoked(live, False)
