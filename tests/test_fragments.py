"""The plan page's items are rendered once per plan version and viewer, and never go stale."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from portal import fragments
from portal.careplan.models import Concern
from portal.extensions import db
from tests.conftest import text_of


def _cache(app) -> fragments.FragmentCache:
    return fragments.cache_of(app)


def _retire_forms(html: str) -> list[tuple[str, str]]:
    """(action, csrf token) of every retire form on a page."""
    return re.findall(
        r'<form method="post" action="([^"]+/retire)">\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)">',
        html,
    )


def _section(html: str, title_id: str) -> str:
    """One section of a plan page (the list of changes names items too)."""
    return html.split(f'id="{title_id}"', 1)[1].split("</section>", 1)[0]


def _concerns(html: str) -> str:
    return _section(html, "concerns-title")


def test_a_cached_plan_shows_every_change_at_once(demo, app):
    alex = demo.login("alex@example.com")
    rivera = demo.login("rivera@example.com")
    plan = f"/p/{demo.alex}/plan"
    assert "Knee pain" not in _concerns(alex.get(plan).get_data(as_text=True))
    assert "Knee pain" not in _concerns(alex.get(plan).get_data(as_text=True))
    assert _cache(app).hits >= 1  # the second view came from the cache

    response = rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "Knee pain when climbing stairs", "category": "physical", "status": "active"},
    )
    assert response.status_code == 302
    assert "Knee pain when climbing stairs" in _concerns(alex.get(plan).get_data(as_text=True))

    with app.app_context():
        concern = db.session.scalar(select(Concern).where(Concern.title.startswith("Knee pain")))
        concern_id = concern.id
    page = rivera.get(plan).get_data(as_text=True)
    action, token = next(
        (a, t) for a, t in _retire_forms(page) if a.endswith(f"/concern/{concern_id}/retire")
    )
    assert rivera.post(action, data={"csrf_token": token}).status_code == 302
    assert "Knee pain" not in _concerns(alex.get(plan).get_data(as_text=True))


def test_the_team_changing_shows_at_once(demo, app):
    alex = demo.login("alex@example.com")
    rivera = demo.login("rivera@example.com")
    plan = f"/p/{demo.alex}/plan"
    assert "Dr. Casey Chen" not in _section(alex.get(plan).get_data(as_text=True), "team-title")
    response = rivera.submit(
        f"/p/{demo.alex}/team",
        {
            "user_id": demo.users["chen@example.com"],
            "role": "Cardiologist",
            "discipline": "specialist",
        },
    )
    assert response.status_code == 302, text_of(response)
    assert "Dr. Casey Chen" in _section(alex.get(plan).get_data(as_text=True), "team-title")


def test_each_session_gets_its_own_working_csrf_token(demo, app):
    """The cached markup holds no token: each page carries its own session's."""
    first = demo.login("rivera@example.com")
    second = demo.login("rivera@example.com")
    plan = f"/p/{demo.alex}/plan"
    first_page = first.get(plan).get_data(as_text=True)
    second_page = second.get(plan).get_data(as_text=True)
    assert _cache(app).hits >= 1
    assert "\x00" not in first_page and "\x00" not in second_page
    first_forms, second_forms = _retire_forms(first_page), _retire_forms(second_page)
    assert first_forms and len(first_forms) == len(second_forms)
    action, token = second_forms[0]
    assert {t for _, t in second_forms} == {token}  # one token per page
    # The first session's token is refused in the second: they differ for real.
    refused = second.post(action, data={"csrf_token": first_forms[0][1]})
    assert refused.status_code == 400
    assert second.post(action, data={"csrf_token": token}).status_code == 302


def test_a_viewer_never_gets_another_viewers_markup(demo, app):
    rivera = demo.login("rivera@example.com")
    alex = demo.login("alex@example.com")
    plan = f"/p/{demo.alex}/plan"
    clinician_page = text_of(rivera.get(plan))
    assert "Retire" in clinician_page and "Add a goal" in clinician_page
    patient_page = alex.get(plan).get_data(as_text=True)
    assert "/retire" not in patient_page and "/edit" not in patient_page
    assert "My goals" in patient_page and "My care team" in patient_page
    # And the other way round: the clinician's view is not the patient's.
    clinician_again = rivera.get(plan).get_data(as_text=True)
    assert "/retire" in clinician_again and "My goals" not in clinician_again


def test_the_cache_is_bounded_least_recently_used_first():
    cache = fragments.FragmentCache(size=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # "a" is now the most recently used
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None


def test_the_cache_keeps_within_its_byte_budget():
    cache = fragments.FragmentCache(size=100, max_bytes=1000)
    for n in range(10):
        cache.put(n, "x" * 300)
    assert cache.bytes <= 1000 and len(cache) == 3
    assert cache.get(9) is not None and cache.get(0) is None  # the oldest went first
    cache.put(9, "y" * 100)  # replacing an entry counts its new size only
    assert cache.bytes == 700
    assert cache.put("huge", "z" * 5000) == "z" * 5000 and cache.get("huge") is None


def test_csrf_slot_is_filled_only_in_fragments_that_have_one(app):
    with app.test_request_context():
        plain = fragments.fill_csrf(fragments.FragmentCache().put("k", "<p>no form</p>"))
        assert plain == "<p>no form</p>"
        filled = fragments.fill_csrf(
            fragments.FragmentCache().put("k", f"<input value='{fragments.CSRF_SLOT}'>")
        )
        assert "\x00" not in filled and len(filled) > len("<input value=''>") + 20


def test_a_flashed_message_shows_once_on_a_cached_page(demo, app):
    alex = demo.login("alex@example.com")
    plan = f"/p/{demo.alex}/plan"
    alex.get(plan)
    alex.get(plan)  # the page is now cached
    after = alex.submit(f"/p/{demo.alex}/plan/agree", follow_redirects=True)
    page = after.get_data(as_text=True)
    assert "Thank you. Your care team can see that you agree with this plan." in page
    assert "\x00" not in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert re.findall(r'name="csrf_token" value="([^"]+)"', page) == [token] * len(
        re.findall(r'name="csrf_token"', page)
    )
    again = alex.get(plan).get_data(as_text=True)
    assert "Thank you." not in again
    assert "You agree with this plan as it is now." in again


def test_a_page_holding_the_sessions_csrf_token_is_never_kept(app, monkeypatch):
    """A form's own `hidden_tag()` bypasses the slot; such a page fails loudly instead."""
    from flask_wtf.csrf import generate_csrf

    def renders_a_real_token(*_args, **_context):
        return f'<input type="hidden" name="csrf_token" value="{generate_csrf()}">'

    with app.test_request_context("/"):
        monkeypatch.setattr(fragments, "render_template", renders_a_real_token)
        with pytest.raises(RuntimeError, match="CSRF token"):
            fragments.page(("test",), "any.html")
    assert len(_cache(app)) == 0


def test_key_slots_get_a_fresh_uuid_each(app):
    page = fragments.fill_slots(fragments.markup(f"x{fragments.KEY_SLOT}y{fragments.KEY_SLOT}z"))
    first, second = re.findall(r"[0-9a-f-]{36}", page)
    assert first != second and page == f"x{first}y{second}z"
    assert str(uuid.UUID(first)) == first
