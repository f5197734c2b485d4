"""Kept pages (portal/pagecache.py): bounded, named per viewer and data, completed per request.

The people and rows come from tests/factories.py, not the demo clinic: each test
makes the patient, clinicians and goal it needs. Whether a view was served
kept is seen from outside: it adds no page to the cache.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from flask import flash, g
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from jinja2 import ChoiceLoader, DictLoader
from markupsafe import Markup, escape
from sqlalchemy import select

from portal import pagecache
from portal.access import resolve
from portal.auth.models import Discipline, User
from portal.careplan.models import Concern, ConcernCategory
from portal.extensions import db
from portal.pagecache import PageCache, Versions, held
from tests.conftest import text_of
from tests.factories import Clinic

V11 = Versions(1, 1)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture()
def clinic(app):
    """A patient, Robin, with a goal, and two clinicians on Robin's team."""
    make = Clinic(app)
    robin = make.patient("Robin", "Hale")
    park = make.clinician("Dr. Ada Park")
    okafor = make.clinician("Sam Okafor", Discipline.NURSING, "Practice nurse")
    make.team(robin, park, role="Primary care physician", lead=True)
    make.team(robin, okafor, role="Practice nurse", discipline=Discipline.NURSING)
    goal = make.goal(robin, "Walk after lunch", measure="minutes")
    return make, robin, park, okafor, goal


def _get(app, client, url: str) -> tuple[str, bool]:
    """A page's HTML and whether the view kept a new page (False: served kept, or not kept)."""
    before = set(pagecache.cache_of(app).keys())
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True), bool(set(pagecache.cache_of(app).keys()) - before)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _concerns(html: str) -> str:
    """The plan's concerns (the list of changes names items too)."""
    return html.split('id="concerns-title"', 1)[1].split("</section>", 1)[0]


def _tokens(html: str) -> set[str]:
    return set(re.findall(r'name="csrf_token" value="([^"]+)"', html))


# -- the cache itself ----------------------------------------------------------


def test_the_cache_is_bounded_least_recently_used_first():
    cache = PageCache(size=2)
    cache.put("a", Markup("A"))
    cache.put("b", Markup("B"))
    assert cache.get("a") == "A"  # "a" is now the most recently used
    cache.put("c", Markup("C"))
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert len(cache) == 2 and set(cache.keys()) == {"a", "c"}
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None and cache.bytes == 0


def test_the_cache_keeps_within_its_byte_budget():
    page, short = Markup("x" * 300), Markup("y" * 100)  # noqa: S704
    cache = PageCache(size=100, max_bytes=3 * held(page) + 10)
    for n in range(10):
        cache.put(n, Markup("x" * 300))  # noqa: S704
    assert cache.bytes == 3 * held(page) and len(cache) == 3
    assert cache.get(9) is not None and cache.get(0) is None  # the oldest went first
    cache.put(9, short)  # replacing an entry counts its new size only
    assert cache.bytes == 2 * held(page) + held(short)
    huge = Markup("z" * 5000)  # noqa: S704
    assert cache.put("huge", huge) == huge and cache.get("huge") is None  # used once, not kept
    assert cache.bytes == 2 * held(page) + held(short)


def test_the_byte_budget_counts_the_memory_a_page_takes_not_its_characters():
    # One em dash makes CPython store every character of the page in two bytes.
    latin, wide = Markup("x" * 1000), Markup("\u2014" + "x" * 999)  # noqa: S704
    cache = PageCache(size=100, max_bytes=10_000)
    cache.put("latin", latin)
    assert 1000 <= cache.bytes < 1100
    cache.put("wide", wide)
    assert cache.bytes >= 1000 + 2000
    cache = PageCache(size=100, max_bytes=5000)
    for n in range(4):
        cache.put(n, wide)
    assert len(cache) == 2 and cache.bytes <= 5000  # counted in characters, all 4 stayed


# -- slots and regions, filled per request --------------------------------------


def test_slots_are_left_in_kept_markup_and_filled_per_request(app):
    with app.test_request_context("/"):
        g.keeping = True
        key, csrf = pagecache.slot("key"), pagecache.slot("csrf")
        kept = Markup(f"x{key}y{key}|{csrf}")  # noqa: S704 (slots escape)
        g.keeping = False
        assert "\x00" in kept and not re.search(UUID, kept)  # nothing per request is kept
        first, second = pagecache.fill(kept), pagecache.fill(kept)
        keys = re.findall(UUID, first)
        assert len(keys) == 2 and keys[0] != keys[1]  # a fresh key per form
        assert set(keys).isdisjoint(re.findall(UUID, second))  # and per view
        assert str(uuid.UUID(keys[0])) == keys[0]
        token = first.rsplit("|", 1)[1]  # "|" is in no token or key
        assert len(token) > 20 and second.endswith(token)  # this session's one token
        assert "\x00" not in first
        plain = Markup("<p>no slots</p>")
        assert pagecache.fill(plain) is plain


def test_a_slot_value_round_trips_escaped_and_cannot_forge_a_slot(app):
    pagecache.register_slot("test_echo", lambda value, context: str(escape(value)))
    with app.test_request_context("/"):
        g.keeping = True
        kept = pagecache.slot("test_echo", "<b>a & b</b>")
        with pytest.raises(ValueError, match="NUL"):
            pagecache.slot("test_echo", "\x00csrf\x1f\x00")  # a value posing as a slot
        g.keeping = False
        assert "<b>" not in kept
        assert pagecache.fill(kept) == "&lt;b&gt;a &amp; b&lt;/b&gt;"
        assert pagecache.slot("test_echo", "<b>") == "&lt;b&gt;"  # the same, not kept


def test_kept_markup_is_parsed_once_and_gives_the_same_page(app):
    """`Kept` holds the markup with its placeholders found; filling it is filling the text."""
    pagecache.register_slot("test_echo", lambda value, context: str(escape(value)))
    pagecache.register_condition("test_even", lambda value, context: int(value) % 2 == 0)
    with app.test_request_context("/"):
        g.keeping = True
        markup = Markup("<p>é</p>").join(
            [
                pagecache.slot("test_echo", "<b>a & b</b>"),
                pagecache.shown_if("test_even", 1, lambda: "<i>odd</i>"),
                pagecache.shown_if("test_even", 2, lambda: "<i>even</i>"),
                pagecache.slot("test_echo", "x"),
            ]
        )
        g.keeping = False
        kept = pagecache.Kept.of(markup)
        assert str(kept) == markup  # the markup, placeholders and all
        assert pagecache.fill(kept) == pagecache.fill(markup)
        assert pagecache.fill(kept) == (
            "&lt;b&gt;a &amp; b&lt;/b&gt;<p>é</p><p>é</p><i>even</i><p>é</p>x"
        )
        assert held(kept) >= held(str(markup))  # the text is counted, and what finds the slots
        plain = pagecache.Kept.of(Markup("<p>no slots</p>"))
        assert pagecache.fill(plain) == "<p>no slots</p>"


def test_shown_if_regions_are_decided_per_request(app):
    pagecache.register_condition("test_even", lambda value, context: int(value) % 2 == 0)
    with app.test_request_context("/"):
        g.keeping = True
        kept = Markup("").join(
            pagecache.shown_if("test_even", n, lambda n=n: f"<b>{n}</b>") for n in range(4)
        )
        g.keeping = False
        assert all(f"<b>{n}</b>" in kept for n in range(4))  # every region is kept
        assert pagecache.fill(kept) == "<b>0</b><b>2</b>"
        # Rendered without keeping, the same template shows the same.
        assert pagecache.shown_if("test_even", 3, lambda: "<b>3</b>") == ""
        assert pagecache.shown_if("test_even", 4, lambda: "<b>4</b>") == "<b>4</b>"


# -- what a page to be kept may not hold, and when it is not kept -----------------


@pytest.fixture()
def templates(app, monkeypatch):
    """Templates made up for a test, found before the app's own."""
    found: dict[str, str] = {}
    loader = ChoiceLoader([DictLoader(found), app.jinja_env.loader])
    monkeypatch.setattr(app.jinja_env, "loader", loader)
    app.jinja_env.cache.clear()
    yield found
    app.jinja_env.cache.clear()


def _access(app, patient, user_id=None):
    with app.app_context():
        access = resolve(db.session.get(User, user_id or patient.user.id), patient.id)
        assert access is not None
        return access


def test_a_page_holding_the_sessions_csrf_token_is_never_kept(app, clinic, templates):
    """A Flask-WTF form's own `hidden_tag()` bypasses the slot; such a page fails loudly."""
    _make, robin, *_ = clinic
    access = _access(app, robin)
    templates["test/real_token.html"] = "<form>{{ form.hidden_tag() }}</form>"
    templates["test/slot_token.html"] = '<input name="csrf_token" value="{{ csrf_token() }}">'
    with app.test_request_context("/"):
        with pytest.raises(RuntimeError, match="CSRF token"):
            pagecache.page(access, V11, "test/real_token.html", load=lambda: {"form": FlaskForm()})
        assert len(pagecache.cache_of(app)) == 0
        # The same token through the slot is kept, without it.
        token = generate_csrf()
        shown = pagecache.page(access, V11, "test/slot_token.html", load=dict)
        (name,) = pagecache.cache_of(app).keys()
        kept = str(pagecache.cache_of(app).get(name))
        assert token in shown and token not in kept and "\x00csrf" in kept


def test_a_page_with_a_flash_waiting_is_rendered_afresh_and_not_kept(app, clinic, templates):
    _make, robin, *_ = clinic
    access = _access(app, robin)
    templates["test/flash.html"] = (
        "{% for m in get_flashed_messages() %}<p>{{ m }}</p>{% endfor %}<i>{{ n }}</i>"
    )
    loads = []

    def load():
        loads.append(1)
        return {"n": len(loads)}

    with app.test_request_context("/"):
        flash("Saved.")
        shown = pagecache.page(access, V11, "test/flash.html", load=load)
        assert shown == "<p>Saved.</p><i>1</i>" and len(pagecache.cache_of(app)) == 0
    for _ in range(2):  # the next requests: the ordinary page, kept once
        with app.test_request_context("/"):
            assert pagecache.page(access, V11, "test/flash.html", load=load) == "<i>2</i>"
    assert len(loads) == 2 and len(pagecache.cache_of(app)) == 1


# -- one key per viewer, declared input and versions -----------------------------


def test_the_key_names_the_viewer_the_inputs_and_the_versions(app, clinic):
    make, robin, park, okafor, goal = clinic
    other = make.clinician("Dr. Lin Ward")
    make.team(robin, other, role="Primary care physician")  # the same role as Dr. Park
    viewers = {
        "patient": _access(app, robin),
        "park": _access(app, robin, park.id),
        "okafor": _access(app, robin, okafor.id),
        "ward": _access(app, robin, other.id),
    }
    day = date(2026, 5, 1)
    with app.test_request_context("/"):

        def key(viewer="patient", versions=V11, template="t.html", **inputs):
            inputs = inputs or {"goal": goal, "day": day}
            return pagecache.key(viewers[viewer], versions, template, inputs)

        assert key() == key()  # the same page has the same name
        assert key(goal=goal, day=day) == pagecache.key(
            viewers["patient"], V11, "t.html", {"day": day, "goal": goal}
        )  # whatever order the view declares its inputs in
        names = [
            key(),
            *(key(viewer=v) for v in ("park", "okafor", "ward")),
            key(goal=goal + 1, day=day),
            key(goal=goal, day=day + timedelta(days=1)),
            key(goal=goal),
            key(versions=Versions(2, 1)),
            key(versions=Versions(1, 2)),
            key(template="u.html"),
        ]
        assert len(set(names)) == len(names), names
    with app.test_request_context("/", base_url="http://localhost/portal"):
        assert pagecache.key(viewers["patient"], V11, "t.html", {}) != names[0]


def test_each_viewer_gets_their_own_plan_page(app, clinic):
    """Patient, clinician and another clinician: three pages, none served to another."""
    make, robin, park, okafor, _goal = clinic
    plan = f"/p/{robin.id}/plan"
    clients = {
        "robin": make.login(robin.email),
        "park": make.login(park.email),
        "okafor": make.login(okafor.email),
    }
    for _ in range(2):
        pages = {who: _get(app, c, plan)[0] for who, c in clients.items()}
        assert "/retire" not in pages["robin"] and "My care team" in pages["robin"]
        assert "you are their" not in pages["robin"]
        assert "you are their Primary care physician" in _text(pages["park"])
        assert "you are their Practice nurse" in _text(pages["okafor"])
        for clinician in ("park", "okafor"):
            assert "/retire" in pages[clinician] and "My care team" not in pages[clinician]
    assert len(pagecache.cache_of(app)) == 3


# -- slots on real pages -----------------------------------------------------------


def _entry_form(html: str) -> tuple[str, dict[str, str]]:
    match = re.search(r'<form[^>]*action="([^"]+)" data-entry-form[^>]*>(.*?)</form>', html, re.S)
    assert match, "no entry form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', match.group(2)))
    return match.group(1), fields


def test_two_views_of_a_kept_page_get_their_own_idempotency_keys(app, clinic):
    make, robin, _park, _okafor, goal = clinic
    client = make.login(robin.email)
    url = f"/p/{robin.id}/goals/{goal}"
    first, added = _get(app, client, url)
    assert added
    second, added = _get(app, client, url)
    assert not added  # served kept
    (action, one), (_, two) = _entry_form(first), _entry_form(second)
    assert re.fullmatch(UUID, one["idempotency_key"]) and re.fullmatch(UUID, two["idempotency_key"])
    assert one["idempotency_key"] != two["idempotency_key"]
    # Both work: two entries, not one replayed.
    for fields, note in ((one, "Before work"), (two, "After work")):
        response = client.post(action, data={**fields, "value": "15", "note": note})
        assert response.status_code == 303, text_of(response)
    with app.app_context():
        from portal.goals.models import ProgressEntry

        notes = set(db.session.scalars(select(ProgressEntry.note)))
    assert notes == {"Before work", "After work"}


def test_each_session_gets_its_own_working_csrf_token(app, clinic):
    """The kept markup holds no token: each page carries its own session's."""
    make, robin, park, *_ = clinic
    with app.app_context():
        db.session.add(
            Concern(patient_id=robin.id, title="Poor sleep", category=ConcernCategory.PHYSICAL)
        )
        db.session.commit()
    first, second = make.login(park.email), make.login(park.email)
    plan = f"/p/{robin.id}/plan"
    first_page, added = _get(app, first, plan)
    assert added
    second_page, added = _get(app, second, plan)
    assert not added  # the same markup, kept once for Dr. Park
    assert "\x00" not in first_page and "\x00" not in second_page
    (first_token,), (second_token,) = _tokens(first_page), _tokens(second_page)  # one per page
    assert first_token != second_token
    action = re.search(r'action="([^"]+/retire)"', second_page).group(1)
    assert second.post(action, data={"csrf_token": first_token}).status_code == 400
    assert second.post(action, data={"csrf_token": second_token}).status_code == 302


# -- a kept plan page shows every change at once ----------------------------------


def test_a_kept_plan_shows_every_change_at_once(app, clinic):
    make, robin, park, *_ = clinic
    patient, doctor = make.login(robin.email), make.login(park.email)
    plan = f"/p/{robin.id}/plan"
    assert "Knee pain" not in _concerns(_get(app, patient, plan)[0])
    assert not _get(app, patient, plan)[1]  # the second view was served kept

    response = doctor.submit(
        f"/p/{robin.id}/plan/concern/new",
        {"title": "Knee pain when climbing stairs", "category": "physical", "status": "active"},
    )
    assert response.status_code == 302, text_of(response)
    html, added = _get(app, patient, plan)
    assert added and "Knee pain when climbing stairs" in _concerns(html)

    with app.app_context():
        concern = db.session.scalar(select(Concern.id).where(Concern.title.startswith("Knee")))
    page, _ = _get(app, doctor, plan)
    (token,) = _tokens(page)
    retired = doctor.post(
        f"/p/{robin.id}/plan/concern/{concern}/retire", data={"csrf_token": token}
    )
    assert retired.status_code == 302
    assert "Knee pain" not in _concerns(_get(app, patient, plan)[0])


def test_the_team_changing_shows_at_once(app, clinic):
    make, robin, park, *_ = clinic
    newcomer = make.clinician("Dr. Casey Chen", Discipline.SPECIALIST, "Cardiologist")
    patient, doctor = make.login(robin.email), make.login(park.email)
    plan = f"/p/{robin.id}/plan"
    for _ in range(2):
        assert "Dr. Casey Chen" not in _get(app, patient, plan)[0]
    response = doctor.submit(
        f"/p/{robin.id}/team",
        {"user_id": newcomer.id, "role": "Cardiologist", "discipline": "specialist"},
    )
    assert response.status_code == 302, text_of(response)
    html, added = _get(app, patient, plan)
    assert added and "Dr. Casey Chen" in html.split('id="team-title"', 1)[1]


def test_a_flashed_message_shows_once_on_a_kept_plan(app, clinic):
    make, robin, *_ = clinic
    patient = make.login(robin.email)
    plan = f"/p/{robin.id}/plan"
    _get(app, patient, plan)
    assert not _get(app, patient, plan)[1]  # kept
    after = patient.submit(f"/p/{robin.id}/plan/agree", follow_redirects=True)
    page = after.get_data(as_text=True)
    assert "Thank you. Your care team can see that you agree with this plan." in page
    assert "\x00" not in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert _tokens(page) == {token}
    again, _ = _get(app, patient, plan)
    assert "Thank you." not in again and "You agree with this plan as it is now." in again
    assert not _get(app, patient, plan)[1]
