"""Alex compares the options of a decision on a 360 px phone and says which way he leans."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import PHONE, sign_in, watch
from tests.browser.test_pages import add_axe, run_axe_light_and_dark

pytestmark = pytest.mark.browser

QUESTION = "How do we bring your A1c down?"


def _open_decision(page, live) -> None:
    page.goto(f"/p/{live.alex}/plan")
    page.get_by_role("link", name=QUESTION).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == QUESTION


def _axe_clean(page) -> list[str]:
    return [f"{scheme}: {json.dumps(v)}" for scheme, v in run_axe_light_and_dark(page)]


def test_alex_compares_options_and_leans_on_a_phone(browser, live):
    context = browser.new_context(base_url=live.url, bypass_csp=True, **PHONE)
    add_axe(context)
    errors = watch(context)
    try:
        page = context.new_page()
        sign_in(page, "alex@example.com")
        _open_decision(page, live)
        # At 360 px: one aspect at a time, every option under it; the table is not shown.
        stack, grid = page.locator(".compare-stack"), page.locator(".compare-grid")
        assert stack.is_visible() and not grid.is_visible()
        risks = page.locator(".compare-aspect", has=page.get_by_role("heading", name="Risks"))
        assert risks.locator("dt").all_inner_texts() == [
            "Add a second medicine",
            "Change what I eat and walk more, then check again",
            "A weekly injection",
        ]
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert not _axe_clean(page)

        page.get_by_label("Change what I eat and walk more, then check again").check()
        page.get_by_label("Why? (optional)").fill("I want to try without more pills first.")
        page.get_by_role("button", name="Save which way I lean").click()
        page.wait_for_load_state()
        assert page.url.endswith("#lean")
        said = page.locator("#lean .status").inner_text()
        assert "You lean towards “Change what I eat and walk more, then check again”" in said
        assert "I want to try without more pills first." in said
        assert page.get_by_label("Change what I eat and walk more, then check again").is_checked()
        assert not _axe_clean(page)

        # Wider (a tablet, a laptop): the Option Grid table, options side by side.
        page.set_viewport_size({"width": 1024, "height": 800})
        assert grid.is_visible() and not stack.is_visible()
        headers = page.locator(".option-grid thead th").all_inner_texts()
        assert headers[0] == "Add a second medicine" and len(headers) == 3
    finally:
        context.close()
    assert not errors, errors
    lean = live.rows(
        "SELECT o.title, l.why FROM decision_leans l JOIN decision_options o ON o.id = l.option_id"
        " JOIN decisions d ON d.id = l.decision_id WHERE d.question = :q",
        q=QUESTION,
    )
    assert [tuple(r) for r in lean] == [
        (
            "Change what I eat and walk more, then check again",
            "I want to try without more pills first.",
        )
    ]


def test_dr_rivera_sees_not_ready_after_a_no(browser, live):
    context = browser.new_context(base_url=live.url, bypass_csp=True, **PHONE)
    add_axe(context)
    try:
        alex = context.new_page()
        sign_in(alex, "alex@example.com")
        _open_decision(alex, live)
        for name, answer in (
            ("Do you feel sure about the best choice for you?", "Yes"),
            ("Do you know the benefits and risks of each option?", "No"),
            ("Are you clear about which benefits and risks matter most to you?", "Yes"),
            ("Do you have enough support and advice to make a choice?", "Yes"),
        ):
            alex.get_by_role("group", name=name).get_by_label(answer).check()
        alex.get_by_role("button", name="Save my answers").click()
        alex.wait_for_load_state()
        assert "Not ready yet" in alex.locator("#sure .status").inner_text()
        assert not _axe_clean(alex)
    finally:
        context.close()
    team = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 800})
    try:
        rivera = team.new_page()
        sign_in(rivera, "rivera@example.com")
        rivera.goto(f"/p/{live.alex}/plan")
        item = rivera.locator(".item", has=rivera.get_by_role("link", name=QUESTION))
        assert "Not ready to decide" in item.inner_text()
    finally:
        team.close()
