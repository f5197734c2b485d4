"""Ending a guardian's access in a browser: on a 360 px phone, by keyboard, without script.

The access matrix gives the confirmation page a 200 only for the lead of the
demo's minor (Chen, for Robin), whom the page audit does not sign in as; so it
is audited here, on a guardian made for this test (the demo's own stays).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from tests.browser.conftest import PHONE, sign_in, watch
from tests.browser.test_pages import (
    SMALL_TARGETS,
    add_axe,
    keyboard_walk,
    run_axe_light_and_dark,
)

pytestmark = pytest.mark.browser


def _guardian_for_robin(live) -> tuple[int, int, str]:
    from portal.auth.models import UserKind
    from portal.auth.services import create_user
    from portal.caregivers.models import Grant, GrantKind
    from portal.db import utcnow
    from portal.extensions import db
    from tests.conftest import DEMO_PASSWORD

    name = f"Jo Guardian {uuid.uuid4().hex[:4]}"
    with live.app.app_context():
        try:
            user = create_user(
                f"jo-{uuid.uuid4().hex[:8]}@example.com", DEMO_PASSWORD, name, UserKind.CAREGIVER
            )
            grant = Grant(
                patient_id=live.patients["Robin"],
                caregiver_id=user.id,
                kind=GrantKind.GUARDIAN,
                relationship="Father",
                scopes="plan:read",
                starts_at=utcnow() - timedelta(minutes=1),
                ends_at=utcnow() + timedelta(days=300),
            )
            db.session.add(grant)
            db.session.commit()
            return live.patients["Robin"], grant.id, name
        finally:
            db.session.remove()


def _audit(page, url: str) -> list[str]:
    problems = []
    for scheme, v in run_axe_light_and_dark(page):
        problems.append(f"{url} ({scheme}): axe {json.dumps(v)}")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > 360:
        problems.append(f"{url}: scrolls sideways ({width} px wide at 360)")
    problems += [f"{url}: tap target too small: {s}" for s in page.evaluate(SMALL_TARGETS)]
    invisible, reached = keyboard_walk(page)
    if not reached:
        problems.append(f"{url}: nothing takes keyboard focus")
    problems += [f"{url}: focus not visible on {what}" for what in invisible]
    return problems


def test_the_lead_ends_a_guardians_access_on_a_phone(browser, live):
    robin, grant_id, name = _guardian_for_robin(live)
    audit = browser.new_context(base_url=live.url, bypass_csp=True, **PHONE)
    add_axe(audit)
    errors = watch(audit)
    try:
        page = audit.new_page()
        sign_in(page, "chen@example.com")
        problems = []
        page.goto(f"/p/{robin}/team")
        problems += _audit(page, "team page")
        page.goto(f"/p/{robin}/guardians/{grant_id}/end")
        problems += _audit(page, "confirmation")
        # Sent empty, the page says what is missing at the top and beside the choice.
        page.get_by_role("button", name=f"End {name}\u2019s access").click()
        page.wait_for_selector(".error-summary")
        problems += _audit(page, "confirmation with errors")
        assert not problems + errors, "\n".join(problems + errors)
    finally:
        audit.close()

    # Without script: choose a reason, send, and land back on the team page.
    plain = browser.new_context(base_url=live.url, java_script_enabled=False, **PHONE)
    try:
        page = plain.new_page()
        sign_in(page, "chen@example.com")
        page.goto(f"/p/{robin}/team")
        page.get_by_role("link", name=f"End guardian access of {name}").click()
        page.get_by_label("A safeguarding concern").check()
        page.get_by_label("Note for the record (optional)").fill("Raised at the 2 Dec visit")
        with page.expect_navigation():
            page.get_by_role("button", name=f"End {name}\u2019s access").click()
        assert page.url.endswith(f"/p/{robin}/team")
        text = page.inner_text("main")
        assert f"{name} can no longer see or do anything for Robin Ortiz" in text
        assert "A safeguarding concern" in text and "Raised at the 2 Dec visit" in text
    finally:
        plain.close()
