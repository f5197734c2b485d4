"""Times and dates as people read them, in the signed-in user's time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
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
    day = babel_dates.format_skeleton("yMMMd", moment, locale=locale)
    hour = babel_dates.format_time(moment.time(), format="short", locale=locale)
    return locale.datetime_formats["medium"].format(hour, day)


def format_date(value: date | None) -> str:
    """A day as the reader writes it: 'Nov 26, 2026' (en-US), '26 Nov 2026' (en-GB)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return babel_dates.format_skeleton("yMMMd", _midday(value), locale=user_locale())


# A day without its year, for a chart's axis and what it reads out, and for messages.
_DAY_MONTH = {
    "short": "MMMd",  # 'Nov 26' (en-US), '26 Nov' (en-GB)
    "long": "MMMMd",  # 'November 26', '26 November'
    "weekday": "MMMMEd",  # 'Thursday, November 26', 'Thursday 26 November'
}


def format_day_month(value: date, width: str = "short") -> str:
    """A day without its year, as the reader writes it (`width`: short, long or weekday)."""
    locale = user_locale()
    if width != "weekday":
        return babel_dates.format_skeleton(_DAY_MONTH[width], _midday(value), locale=locale)
    # CLDR gives most locales only the short weekday ('Thu, November 26'): widen it.
    skeleton = babel_dates.match_skeleton(_DAY_MONTH[width], locale.datetime_skeletons)
    pattern = str(locale.datetime_skeletons[skeleton]) if skeleton else "EEEE d MMMM"
    pattern = re.sub(r"(?<!E)E{1,3}(?!E)", "EEEE", pattern)
    return babel_dates.format_date(value, pattern, locale=locale)


def _midday(day: date) -> datetime:
    # Babel formats datetimes; a naive midday cannot fall on another day in any zone.
    return datetime.combine(day, time(12))


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
        return _before(timedelta(minutes=seconds // 60), "minute")
    if seconds < 86400:
        return _before(timedelta(hours=seconds // 3600), "hour")
    zone = zone or user_zone()
    day = value.astimezone(zone).date()
    days = (now.astimezone(zone).date() - day).days
    if days == 1:
        return "yesterday"
    if days < 7:
        return _before(timedelta(days=days), "day")
    return format_date(day)


def _before(delta: timedelta, unit: str) -> str:
    return babel_dates.format_timedelta(
        -delta, granularity=unit, threshold=1, add_direction=True, locale=user_locale()
    )


# The locales whose date and clock habits the portal follows, the first the default. The
# words are English for now; when Spanish comes (a later release), its locales join this
# list as its translations do, and `user_locale` picks them from the same header.
LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IE", "en_NZ", "en_IN")


def user_locale() -> Locale:
    """The reader's locale from the browser's Accept-Language, against `LOCALES` (en_US else).

    The browser draws its own date and time boxes in the same locale, so a hint
    written with it ("For example, 9:30 PM") reads as the box beside it does.
    Worked out once per request.
    """
    if not has_request_context():
        return Locale.parse(LOCALES[0])
    found = g.get("_locale")
    if found is None:
        best = request.accept_languages.best_match([code.replace("_", "-") for code in LOCALES])
        found = g._locale = Locale.parse((best or LOCALES[0]).replace("-", "_"))
    return found


def reader_language() -> str:
    """The reader's locale as a BCP 47 tag for <html lang> ('en-US'): scripts format with it."""
    return str(user_locale()).replace("_", "-")


def clock(value: time | datetime) -> str:
    """A time of day as the reader's locale writes it: '21:30' (en_GB), '9:30 PM' (en_US)."""
    if isinstance(value, datetime):
        value = local(value).timetz().replace(tzinfo=None)
    return babel_dates.format_time(value, format="short", locale=user_locale())
