"""Phone-sized pictures of the main pages, for the README (docs/screenshots/*.png)."""

from __future__ import annotations

import pytest
from flask import url_for

from tests.browser.conftest import PHONE, SCREENSHOTS, sign_in, watch

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS
WALK = "Walk 30 minutes a day"

# name: (who, endpoint, URL arguments from the live demo)
PAGES = {
    "patient": [
        ("patient-home", "careplan.home", lambda live: {"patient_id": live.alex}),
        ("patient-plan", "careplan.plan", lambda live: {"patient_id": live.alex}),
        (
            "patient-goal",
            "goals.detail",
            lambda live: {"patient_id": live.alex, "goal_id": live.goal(WALK)},
        ),
    ],
    "clinician": [
        ("clinician-panel", "clinic.panel", lambda live: {}),
        ("clinician-plan", "careplan.plan", lambda live: {"patient_id": live.alex}),
        ("clinician-inbox", "clinic.inbox", lambda live: {}),
    ],
}
ACCOUNTS = {"patient": "alex@example.com", "clinician": "rivera@example.com"}


def test_screenshots_of_the_main_pages(browser, live):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live.url, **PHONE)
    problems = watch(context)
    try:
        page = context.new_page()
        page.emulate_media(reduced_motion="reduce")
        page.goto("/login")
        page.screenshot(path=str(SHOTS / "sign-in.png"))
        saved = ["sign-in"]
        for who, pages in PAGES.items():
            context.clear_cookies()
            sign_in(page, ACCOUNTS[who])
            for name, endpoint, args in pages:
                with live.app.test_request_context():
                    url = url_for(endpoint, **args(live))
                response = page.goto(url)
                assert response.status == 200, f"{name}: {url} answered {response.status}"
                page.screenshot(path=str(SHOTS / f"{name}.png"))
                saved.append(name)
            if who == "patient":  # a walk logged at home, confirmed beside its form
                page.goto(f"/p/{live.alex}/")
                form = page.locator(f"form[data-goal-id='{live.goal(WALK)}']")
                form.locator("[name=value]").fill("25")
                form.get_by_role("button", name="Save").click()
                page.locator(f"#saved-{live.goal(WALK)}[autofocus]").wait_for()
                page.screenshot(path=str(SHOTS / "patient-saved.png"))
                saved.append("patient-saved")
    finally:
        context.close()
    assert not problems, problems
    for name in saved:
        png = (SHOTS / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        # 360 x 740 CSS pixels at a device scale factor of 2
        assert (int.from_bytes(png[16:20]), int.from_bytes(png[20:24])) == (720, 1480)
