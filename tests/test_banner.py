"""The patient banner: every patient page says whose record it is, with date of birth and age.

The banner lives in the shared header (careplan/_patient_nav.html), so these
tests walk every patient page the app has (every GET route under /p/<id>),
not a list that could forget one. The age is a slot: it turns at midnight on
the birthday, also on a kept page whose data did not change.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from portal import pagecache
from portal.auth.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal
from portal.patients import Patient

RIVERA, SAM, BLAKE, ALEX = (
    "rivera@example.com",
    "sam@example.com",
    "blake@example.com",
    "alex@example.com",
)


def _banner(html: str) -> str:
    """The header banner's words, tags stripped."""
    found = re.search(r'<p class="patient-nav__whose patient-nav__banner">(.*?)</p>', html, re.S)
    assert found, "no patient banner on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip()


def _patient_pages(app, demo, patient_id: int) -> list[str]:
    """Every page about one patient: each GET route under /p/<id>, and a goal's page."""
    with app.app_context():
        goal = db.session.scalar(select(Goal.id).where(Goal.patient_id == patient_id).limit(1))
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith("/p/<int:patient_id>"):
            continue
        args = set(rule.arguments) - {"patient_id"}
        if not args:
            urls.append(rule.rule.replace("<int:patient_id>", str(patient_id)))
        elif args == {"goal_id"} and rule.endpoint == "goals.detail" and goal:
            urls.append(f"/p/{patient_id}/goals/{goal}")
    assert len(urls) >= 8, urls  # plan, history, team, goals, preferences, decisions, ...
    return sorted(set(urls))


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _reader_today(app, email: str) -> date:
    with app.app_context():
        zone = db.session.scalar(select(User.timezone).where(User.email == email)) or "UTC"
    return utcnow().astimezone(ZoneInfo(zone)).date()


@pytest.mark.parametrize(
    ("email", "patient"),
    [(RIVERA, "Alex"), (SAM, "Alex"), (BLAKE, "Robin")],
    ids=["care-team", "caregiver", "guardian"],
)
def test_every_patient_page_shows_whose_record_with_birth_date_and_age(app, demo, email, patient):
    patient_id = demo.patients[patient]
    with app.app_context():
        record = db.session.get(Patient, patient_id)
        born, name = record.birth_date, f"{record.given_name} {record.family_name}"
    age = _age(born, _reader_today(app, email))
    client = demo.login(email)
    shown = 0
    for url in _patient_pages(app, demo, patient_id):
        response = client.get(url)
        if response.status_code in (302, 403):  # a page this relation may not open
            continue
        assert response.status_code == 200, (url, response.status_code)
        html = response.get_data(as_text=True)
        banner = _banner(html)
        assert name in banner and f"age {age}" in banner, (url, banner)
        assert f'<time datetime="{born.isoformat()}">' in html, url
        if age < 18:  # a minor's age stands out
            assert f'<strong class="patient-banner__minor">age {age} · under 18</strong>' in html
        else:
            assert "patient-banner__minor" not in html
        assert "\x00" not in html
        shown += 1
    assert shown >= 6


def test_the_patient_is_not_told_their_own_age_on_every_page_but_the_plan_says_it(app, demo):
    alex = demo.login(ALEX)
    goals = alex.get(f"/p/{demo.alex}/goals").get_data(as_text=True)
    assert _banner(goals) == "Your information"
    plan = alex.get(f"/p/{demo.alex}/plan").get_data(as_text=True)
    body = re.search(r'<p class="patient-banner">(.*?)</p>', plan, re.S).group(1)
    assert "born" in body and re.search(r"age \d+", body)


def _born_years_ago(today: date, years: int, days_to_birthday: int) -> date:
    """A birth date whose `years`-th birthday is `days_to_birthday` days after `today`."""
    birthday = today + timedelta(days=days_to_birthday)
    try:
        return birthday.replace(year=birthday.year - years)
    except ValueError:  # 29 February
        return birthday.replace(year=birthday.year - years, day=28)


@pytest.mark.parametrize("page", ["plan", "goal"])
def test_the_age_turns_at_midnight_on_the_birthday_on_a_kept_page(app, demo, monkeypatch, page):
    """Born 40 years ago tomorrow: 39 today, 40 tomorrow, with no change to the data."""
    today = _reader_today(app, RIVERA)
    with app.app_context():
        db.session.execute(
            update(Patient)
            .where(Patient.id == demo.alex)
            .values(birth_date=_born_years_ago(today, 40, 1))
        )
        goal = db.session.scalar(select(Goal.id).where(Goal.patient_id == demo.alex).limit(1))
        db.session.commit()
    url = f"/p/{demo.alex}/plan" if page == "plan" else f"/p/{demo.alex}/goals/{goal}"
    rivera = demo.login(RIVERA)
    first = rivera.get(url).get_data(as_text=True)
    assert "age 39" in _banner(first)
    rivera.get(url)  # now kept
    kept = set(pagecache.cache_of(app).keys())

    # Midnight passes (the reader's clock, a day on), and nothing about Alex changed.
    monkeypatch.setattr("portal.pagecache.utcnow", lambda: utcnow() + timedelta(days=1))
    after = rivera.get(url).get_data(as_text=True)
    assert "age 40" in _banner(after)
    assert "age 39" not in after
    if page == "plan":  # the plan's key has no day in it: the very same kept markup, refilled
        assert set(pagecache.cache_of(app).keys()) == kept


def test_the_banner_reads_a_birth_date_around_the_birthday(app, demo, monkeypatch):
    """The day before the 18th birthday a minor; on the day, an adult: the banner follows."""
    today = _reader_today(app, RIVERA)
    with app.app_context():
        db.session.execute(
            update(Patient)
            .where(Patient.id == demo.alex)
            .values(birth_date=_born_years_ago(today, 18, 1))
        )
        db.session.commit()
    rivera = demo.login(RIVERA)
    url = f"/p/{demo.alex}/team"
    assert "age 17 · under 18" in _banner(rivera.get(url).get_data(as_text=True))
    monkeypatch.setattr("portal.pagecache.utcnow", lambda: utcnow() + timedelta(days=1))
    html = rivera.get(url).get_data(as_text=True)
    assert "age 18" in _banner(html) and "under 18" not in _banner(html)
