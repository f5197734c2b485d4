"""Dates and times as the reader writes them (portal/when.py): Babel, the browser's locale.

The locale comes from Accept-Language, negotiated against `when.LOCALES` (en-US
when nothing fits); a kept page is kept per locale, so a reader never gets a
page written for another.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from portal import pagecache, when

MOMENT = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)  # the test user's zone is UTC


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en_US"),
        ("en-GB,en;q=0.8", "en_GB"),
        ("en-US", "en_US"),
        ("en", "en_US"),
        ("es-MX,es;q=0.9,en-GB;q=0.5", "en_GB"),  # no Spanish yet: the best English they take
        ("fr-FR", "en_US"),
        ("en-AU", "en_AU"),
    ],
)
def test_the_locale_is_negotiated_from_the_browser(app, header, locale):
    headers = {"Accept-Language": header} if header else {}
    with app.test_request_context(headers=headers):
        assert str(when.user_locale()) == locale


@pytest.mark.parametrize(
    ("header", "day", "moment", "hour"),
    [
        ("en-US", "Nov 26, 2026", "Nov 26, 2026, 2:05\u202fPM", "9:30\u202fPM"),
        ("en-GB", "26 Nov 2026", "26 Nov 2026, 14:05", "21:30"),
    ],
)
def test_dates_and_times_follow_the_locale(app, header, day, moment, hour):
    with app.test_request_context(headers={"Accept-Language": header}):
        assert when.format_date(date(2026, 11, 26)) == day
        assert when.format_date(MOMENT) == day
        assert when.format_when(MOMENT) == moment
        assert when.clock(datetime(2026, 1, 1, 21, 30, tzinfo=UTC)) == hour


def test_ago_says_whole_units_in_words(app):
    with app.test_request_context(headers={"Accept-Language": "en-GB"}):
        for delta, words in [
            (timedelta(seconds=30), "just now"),
            (timedelta(minutes=1), "1 minute ago"),
            (timedelta(minutes=59, seconds=59), "59 minutes ago"),
            (timedelta(hours=2, minutes=50), "2 hours ago"),
            (timedelta(hours=23, minutes=59), "23 hours ago"),
            (timedelta(days=1), "yesterday"),
            (timedelta(days=3), "3 days ago"),
            (timedelta(days=30), "27 Oct 2026"),
        ]:
            assert when.ago(MOMENT - delta, MOMENT, UTC) == words, delta


def _born(html: str) -> str:
    found = re.search(r'born <time datetime="[\d-]+">([^<]+)</time>', html)
    assert found, "no date of birth on the page"
    return found.group(1)


def test_a_page_is_written_and_kept_in_each_readers_locale(app, demo):
    """Dr. Rivera on two computers, one set to US English, one to British: each its own page."""
    rivera = demo.login("rivera@example.com")
    url = f"/p/{demo.alex}/plan"  # a kept page; Alex was born 12 April 1968
    before = set(pagecache.cache_of(app).keys())
    for _ in range(2):  # rendered, then served kept: each stays in its own locale
        us = rivera.get(url, headers={"Accept-Language": "en-US"}).get_data(as_text=True)
        gb = rivera.get(url, headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
        assert _born(us) == "Apr 12, 1968" and _born(gb) == "12 Apr 1968"
    assert len(set(pagecache.cache_of(app).keys()) - before) == 2


def test_the_goal_chart_labels_days_in_the_readers_locale(app, demo):
    from sqlalchemy import select

    from portal.extensions import db
    from portal.goals.models import Goal

    with app.app_context():  # the demo's walk has a chart of days
        goal = db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.title.startswith("Walk"))
        )
    alex = demo.login("alex@example.com")
    url = f"/p/{demo.alex}/goals/{goal}"
    us = alex.get(url, headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    gb = alex.get(url, headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    weekday = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
    assert re.search(rf"{weekday}, [A-Z][a-z]+ \d{{1,2}}\b", us)  # Thursday, November 26
    assert re.search(rf"{weekday} \d{{1,2}} [A-Z][a-z]+\b", gb)  # Thursday 26 November


def _generator():
    """scripts/locale_table.py, which writes portal/locale_table.json from Babel's CLDR data."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "locale_table.py"
    spec = importlib.util.spec_from_file_location("locale_table_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_locale_table_is_what_the_installed_babel_gives():
    import json

    committed = json.loads(when.TABLE.read_text(encoding="utf-8"))
    assert committed == _generator().document(), (
        "portal/locale_table.json is out of date with the installed Babel:"
        " run `python scripts/locale_table.py` and commit the result"
    )
    assert set(committed["locales"]) == set(when.LOCALES)


@pytest.mark.parametrize("code", when.LOCALES)
def test_dates_from_the_table_are_babels_own(code):
    """Every text when.py writes, from the table, equals Babel's from its full CLDR data."""
    from datetime import time

    from babel import Locale
    from babel import dates as babel_dates

    full, table = Locale.parse(code), when.locale_named(code)
    assert isinstance(table, when.TableLocale) and str(table) == code
    generator = _generator()
    days = [date(2026, month, 1) + timedelta(days=month * 2) for month in range(1, 13)]
    days += [date(2027, 3, 1) + timedelta(days=n) for n in range(7)]  # every weekday
    for skeleton in generator.SKELETONS:
        pattern = babel_dates.parse_pattern(generator._day_pattern(full, skeleton))
        for day in days:
            expected = pattern.apply(datetime.combine(day, time(12)), full)
            assert when._skeleton_text(table, skeleton, day) == expected, (skeleton, day)
    for hour in range(24):
        for minute in range(60):
            expected = babel_dates.format_time(time(hour, minute), format="short", locale=full)
            assert when._clock_text(table, hour, minute) == expected
    for unit, most in (("minute", 59), ("hour", 23), ("day", 6)):
        for amount in range(1, most + 1):
            expected = babel_dates.format_timedelta(
                -timedelta(**{f"{unit}s": amount}),
                granularity=unit,
                threshold=1,
                add_direction=True,
                locale=full,
            )
            assert when._before_text(table, amount, unit) == expected
    assert table.datetime_formats["medium"] == full.datetime_formats["medium"]
