"""The daily loop in a browser: a walk logged and confirmed in place (script on, off and
offline), a "New message" badge landing on the message, and a clinician clearing waiting
goals with reply and next, her clicks counted."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import PHONE, SCREENSHOTS, controlled, sign_in, wait_until, watch

pytestmark = pytest.mark.browser

WALK = "Walk 30 minutes a day"
DESK = {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB", "timezone_id": "UTC"}
FOCUSED_NOTE = """() => { const a = document.activeElement;
    return !!a && a.matches('[data-saved-note][role=status], .saved-note[role=status]')
        && a.textContent.trim(); }"""


def post_as(live, email: str, patient_id: int, goal_id: int, body: str) -> int:
    """A message written in the goal's thread by `email`, as the portal's service does."""
    from portal.access import resolve
    from portal.auth.models import User
    from portal.extensions import db
    from portal.goals import threads

    with live.app.app_context():
        try:
            user = db.session.get(User, live.users[email])
            message = threads.post_message(resolve(user, patient_id), goal_id, body)
            db.session.commit()
            return message.id
        finally:
            db.session.remove()


def in_view(page, selector: str) -> bool:
    return page.evaluate(
        """(s) => { const r = document.querySelector(s).getBoundingClientRect();
            const bar = document.querySelector('.tabs');  // a bottom tab bar covers its part
            const fixed = bar && getComputedStyle(bar).position === 'fixed';
            const bottom = fixed ? bar.getBoundingClientRect().top : window.innerHeight;
            return r.top >= 0 && r.bottom <= bottom; }""",
        selector,
    )


def test_a_walk_logged_at_home_is_confirmed_beside_the_form(context, page, live):
    sign_in(page, "alex@example.com")
    goal = live.goal(WALK)
    page.evaluate("window.stayed = true")
    form = page.locator(f"form[data-goal-id='{goal}']")
    form.locator("[name=value]").fill("25")
    form.get_by_role("button", name=re.compile("^Save")).click()
    text = wait_until(page, FOCUSED_NOTE, message="the confirmation never took the focus")
    assert re.fullmatch(r"✓ Saved: \d+ minutes today\. .+ this week\.", text), text
    assert page.evaluate("window.stayed")  # no reload: the page it lands on was swapped in
    assert page.evaluate("document.activeElement.id") == f"saved-{goal}"
    assert in_view(page, f"#saved-{goal}") and in_view(page, f"form[data-goal-id='{goal}']")


def test_without_javascript_the_confirmation_is_focused_at_the_form(browser, live):
    context = browser.new_context(base_url=live.url, java_script_enabled=False, **PHONE)
    problems = watch(context)
    try:
        page = context.new_page()
        sign_in(page, "alex@example.com")
        goal = live.goal(WALK)
        page.goto(f"/p/{live.alex}/goals/{goal}")
        page.locator("#entry-value").fill("15")
        with page.expect_navigation():
            page.locator("form[data-entry-form]").get_by_role("button", name="Save").click()
        assert page.url.endswith(f"/p/{live.alex}/goals/{goal}#saved-{goal}")
        note = page.locator(f"#saved-{goal}")
        assert note.get_attribute("role") == "status"
        assert re.match(r"✓ Saved: \d+ minutes today\.", note.inner_text().strip())
        assert page.evaluate("document.activeElement.id") == f"saved-{goal}"  # autofocus
        assert in_view(page, f"#saved-{goal}")
    finally:
        context.close()
    assert not problems, problems


def test_offline_the_walk_waits_and_says_so_where_it_was_logged(context, page, live):
    sign_in(page, "alex@example.com")
    controlled(page)
    goal = live.goal(WALK)
    context.set_offline(True)
    form = page.locator(f"form[data-goal-id='{goal}']")
    form.locator("[name=value]").fill("20")
    form.get_by_role("button", name=re.compile("^Save")).click()
    text = wait_until(page, FOCUSED_NOTE, message="no confirmation offline")
    assert "Saved on this phone; it will be sent when you\u2019re back online." in text
    assert page.evaluate("document.activeElement.id") == f"saved-{goal}"
    context.set_offline(False)


def test_the_header_is_slim_and_the_tabs_sit_at_the_bottom(page, live):
    sign_in(page, "alex@example.com")
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 100, header  # was 167 of 740 px
    nav = page.get_by_role("navigation", name=re.compile("record"))
    tabs = nav.locator(".tabs__link")
    # Today, Plan, Goals, Decisions, Care team: at most five, as native tab bars keep them.
    assert tabs.count() == 5
    for index in range(5):
        box = tabs.nth(index).bounding_box()
        assert box["y"] >= 740 - box["height"] - 1 and box["height"] >= 44, box  # one thumb away
    assert nav.locator("[aria-current=page]").inner_text() == "Today"
    _labels_fit(tabs)
    # Nothing is hidden under the bar: the page's end scrolls clear of it.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    footer = page.locator(".site-footer").bounding_box()
    assert footer["y"] + footer["height"] <= tabs.first.bounding_box()["y"] + 1


def test_a_clinicians_header_is_slim_too(page, live):
    sign_in(page, "rivera@example.com")
    page.goto(f"/p/{live.alex}/plan")
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 130, header  # was 238 of 740 px
    bar = page.locator(".patient-nav .tabs").bounding_box()
    assert bar["y"] + bar["height"] >= 739  # the tabs at the bottom
    _labels_fit(page.locator(".patient-nav .tabs__link"))  # "My patients" and four more


def _labels_fit(tabs) -> None:
    """Every tab's label inside its own tab at 360 px: none cut off or run into the next."""
    for index in range(tabs.count()):
        fits = tabs.nth(index).evaluate("a => a.scrollWidth <= a.clientWidth")
        assert fits, f"the label {tabs.nth(index).inner_text()!r} overflows its tab"


def test_the_new_message_badge_lands_on_the_message_with_the_reply_box(page, live):
    goal = live.goal(WALK)
    words = f"Lovely progress, Alex. How are your knees? ({uuid.uuid4().hex[:6]})"
    message = post_as(live, "rivera@example.com", live.alex, goal, words)
    sign_in(page, "alex@example.com")
    badge = page.get_by_role("link", name=f"New message about “{WALK}”")
    with page.expect_navigation():
        badge.click()
    assert page.url.endswith("#latest")
    assert page.locator(f"#message-{message}").inner_text().count(words) == 1
    assert in_view(page, f"#message-{message} .message__body")
    assert in_view(page, "form.reply-form textarea")
    page.screenshot(path=str(SCREENSHOTS / "goal-new-message.png"))


def test_dr_rivera_clears_three_waiting_goals_with_reply_and_next(browser, live):
    # Three goals waiting: Alex and Blake wrote on them.
    titles = live.rows(
        "SELECT id, patient_id FROM goals WHERE status = 'ACTIVE' OR status = 'active'"
    )
    waiting = live.rows("SELECT id FROM goals WHERE awaiting_reply_since IS NOT NULL")
    needed = 3 - len(waiting)
    for goal_id, patient_id in titles:
        if needed <= 0:
            break
        if (goal_id,) in [tuple(w) for w in waiting]:
            continue
        email = "alex@example.com" if patient_id == live.alex else "blake@example.com"
        post_as(live, email, patient_id, goal_id, "Is this right?")
        needed -= 1
    count = live.scalar("SELECT count(*) FROM goals WHERE awaiting_reply_since IS NOT NULL")
    assert count >= 3

    context = browser.new_context(base_url=live.url, **DESK)
    problems = watch(context)
    clicks = 0
    try:
        page = context.new_page()
        sign_in(page, "rivera@example.com")
        page.goto("/clinic/inbox")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "inbox.png"))
        with page.expect_navigation():
            page.locator("table.inbox tbody a").first.click()
            clicks += 1
        for n in range(3):
            box = page.locator("form.reply-form textarea")
            assert in_view(page, "form.reply-form textarea")  # no scrolling to reply
            box.fill(f"Thanks, that looks right ({n}).")
            with page.expect_navigation():
                page.get_by_role("button", name="Send and open the next waiting goal").click()
                clicks += 1
            if n < 2 or count > 3:
                assert page.locator(".saved-note[role=status]").first.is_visible()
        assert clicks == 4  # one to open, then one per goal: type, send and move on
        assert (
            live.scalar("SELECT count(*) FROM goals WHERE awaiting_reply_since IS NOT NULL")
            == count - 3
        )
    finally:
        context.close()
    assert not problems, problems


def test_the_plan_uses_the_width_of_a_desk_and_stays_one_column_on_a_phone(browser, live):
    """From 1024 px the team sits beside the plan's items; on a phone it follows them."""
    for options, beside in ((DESK, True), (PHONE, False)):
        context = browser.new_context(base_url=live.url, **options)
        problems = watch(context)
        try:
            page = context.new_page()
            sign_in(page, "rivera@example.com")
            page.goto(f"/p/{live.alex}/plan")
            goals = page.locator("#goals-title").bounding_box()
            team = page.locator("#team-title").bounding_box()
            if beside:
                assert team["x"] > goals["x"] + goals["width"] / 2, (goals, team)
                assert team["y"] < goals["y"] + 400  # at the top of its column
            else:
                assert abs(team["x"] - goals["x"]) < 2 and team["y"] > goals["y"]
            # Whose plan, with date of birth and age, above everything else: for the team
            # the banner is the record's header (the plan's own copy is for printing).
            banner = page.locator(".patient-nav__banner")
            assert banner.bounding_box()["y"] < goals["y"]
            assert "born" in banner.inner_text() and "age " in banner.inner_text()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= options["viewport"]["width"]  # nothing sideways
        finally:
            context.close()
        assert not problems, problems
