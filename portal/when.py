"""Times and dates as people read them, in the signed-in user's time zone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel.plural import PluralRule
from flask import g, has_request_context, request
from flask_login import current_user


def user_zone() -> ZoneInfo:
    """The signed-in user's time zone (UTC when unknown)."""
    name = getattr(current_user, "timezone", None) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: datetime) -> datetime:
    return value.astimezone(user_zone())


def format_when(value: datetime | None) -> str:
    """A moment as the reader writes it: 'Nov 26, 2026, 2:05 PM' (en-US), '26 Nov 2026, 14:05'."""
    if value is None:
        return ""
    moment = local(value).replace(tzinfo=None)  # the reader's wall clock, as Babel should print it
    locale = user_locale()
    day = _skeleton_text(locale, "yMMMd", moment.date())
    hour = _clock_text(locale, moment.hour, moment.minute)
    return locale.datetime_formats["medium"].format(hour, day)


def format_date(value: date | None) -> str:
    """A day as the reader writes it: 'Nov 26, 2026' (en-US), '26 Nov 2026' (en-GB)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return _skeleton_text(user_locale(), "yMMMd", value)


# A day without its year, for a chart's axis and what it reads out, and for messages.
_DAY_MONTH = {
    "short": "MMMd",  # 'Nov 26' (en-US), '26 Nov' (en-GB)
    "long": "MMMMd",  # 'November 26', '26 November'
    "weekday": "MMMMEd",  # 'Thursday, November 26', 'Thursday 26 November'
}


def format_day_month(value: date, width: str = "short") -> str:
    """A day without its year, as the reader writes it (`width`: short, long or weekday)."""
    return _skeleton_text(user_locale(), _DAY_MONTH[width], value)


# Babel takes 30-90 us to write one date (matching the skeleton, then applying its
# pattern), and a 50-row inbox or a plan writes dozens. The same days and clock
# times recur on every page, so each text is worked out once per worker: a locale
# and a day (or a minute of the day) always give the same words. Bounded: days
# beyond the cache are simply written again.
@lru_cache(maxsize=4096)
def _skeleton_text(locale: Locale, skeleton: str, day: date) -> str:
    return _pattern(locale, skeleton).apply(datetime.combine(day, time(12)), locale)


@lru_cache(maxsize=64)
def _pattern(locale: Locale, skeleton: str) -> babel_dates.DateTimePattern:
    # The skeleton's pattern, matched in CLDR by scripts/locale_table.py.
    return babel_dates.parse_pattern(locale._data["skeletons"][skeleton])


@lru_cache(maxsize=4096)
def _clock_text(locale: Locale, hour: int, minute: int) -> str:
    return babel_dates.format_time(time(hour, minute), format="short", locale=locale)


@lru_cache(maxsize=1024)
def _before_text(locale: Locale, amount: int, unit: str) -> str:
    delta = timedelta(**{f"{unit}s": amount})
    return babel_dates.format_timedelta(
        -delta, granularity=unit, threshold=1, add_direction=True, locale=locale
    )


def ago(value: datetime | None, now: datetime | None = None, zone: ZoneInfo | None = None) -> str:
    """'2 hours ago', 'yesterday', or a date: how people say when (in `zone`, else the user's).

    Whole units, rounded down (59 minutes is not yet "1 hour ago"), written by
    Babel in the reader's locale.
    """
    if value is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return _before_text(user_locale(), seconds // 60, "minute")
    if seconds < 86400:
        return _before_text(user_locale(), seconds // 3600, "hour")
    zone = zone or user_zone()
    day = value.astimezone(zone).date()
    days = (now.astimezone(zone).date() - day).days
    if days == 1:
        return "yesterday"
    if days < 7:
        return _before_text(user_locale(), days, "day")
    return format_date(day)


# The locales whose date and clock habits the portal follows, the first the default. The
# words are English for now; when Spanish comes (a later release), its locales join this
# list as its translations do, and `user_locale` picks them from the same header.
LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IE", "en_NZ", "en_IN")


class TableLocale(Locale):
    """A Babel locale that reads only the CLDR data `portal/locale_table.json` keeps.

    Babel still writes every date (`DateTimePattern.apply`, `format_time`,
    `format_timedelta`); its Locale reads all its data through `_data`, so this
    only changes where it finds month names and patterns. `Locale.parse` would
    load CLDR's `root`, `en` and global data into each worker, about 5 MiB for
    the few dozen strings a date needs (issue 10; `benchmarks/memory.py`).
    Reading a key the table lacks raises KeyError, and tests/test_when.py checks
    every locale's output against Babel's own.
    """

    def __init__(self, code: str, entry: dict[str, Any]) -> None:
        language, _, territory = code.partition("_")
        super().__init__(language, territory or None)
        months = {width: dict(enumerate(names, 1)) for width, names in entry["months"].items()}
        days = {width: dict(enumerate(names)) for width, names in entry["weekdays"].items()}
        self._table = {
            "skeletons": entry["skeletons"],
            "time_formats": {"short": babel_dates.parse_pattern(entry["clock"])},
            "datetime_formats": {"medium": entry["moment"]},
            "months": {"format": months},
            "days": {"format": days},  # Babel's weekday numbers: Monday is 0
            "day_periods": {"format": entry["periods"]},
            "date_fields": {unit: {"past": past} for unit, past in entry["past"].items()},
            "unit_patterns": {},
            "plural_form": PluralRule(entry["plural"]),
        }

    @property
    def _data(self) -> dict[str, Any]:  # type: ignore[override]
        return self._table


TABLE = Path(__file__).with_name("locale_table.json")


@cache
def locale_named(code: str) -> Locale:
    """The `LOCALES` entry `code` ('en_GB'), made once per worker from the table."""
    return TableLocale(code, _table()[code])


@cache
def _table() -> dict[str, Any]:
    return json.loads(TABLE.read_text(encoding="utf-8"))["locales"]


def user_locale() -> Locale:
    """The reader's locale from the browser's Accept-Language, against `LOCALES` (en_US else).

    The browser draws its own date and time boxes in the same locale, so a hint
    written with it ("For example, 9:30 PM") reads as the box beside it does.
    Worked out once per request.
    """
    if not has_request_context():
        return locale_named(LOCALES[0])
    found = g.get("_locale")
    if found is None:
        best = request.accept_languages.best_match([code.replace("_", "-") for code in LOCALES])
        found = g._locale = locale_named((best or LOCALES[0]).replace("-", "_"))
    return found


def reader_language() -> str:
    """The reader's locale as a BCP 47 tag for <html lang> ('en-US'): scripts format with it."""
    return str(user_locale()).replace("_", "-")


def clock(value: time | datetime) -> str:
    """A time of day as the reader's locale writes it: '21:30' (en_GB), '9:30 PM' (en_US)."""
    if isinstance(value, datetime):
        value = local(value)
    return _clock_text(user_locale(), value.hour, value.minute)
