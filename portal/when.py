"""Times and dates as people read them, in the signed-in user's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from flask import has_request_context, request
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
    """'26 Nov 2026, 2:05 pm' in the user's time zone."""
    if value is None:
        return ""
    moment = local(value)
    half = "am" if moment.hour < 12 else "pm"
    return f"{moment.day} {moment:%b %Y}, {moment.hour % 12 or 12}:{moment:%M} {half}"


def format_date(value: date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return f"{value.day} {value:%b %Y}"


def ago(value: datetime | None, now: datetime | None = None, zone: ZoneInfo | None = None) -> str:
    """'2 hours ago', 'yesterday', or a date: how people say when (in `zone`, else the user's)."""
    if value is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    if seconds < 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    zone = zone or user_zone()
    day = value.astimezone(zone).date()
    days = (now.astimezone(zone).date() - day).days
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return format_date(day)


# The locales whose clock and date habits the portal follows; English words throughout.
LOCALES = ("en_GB", "en_US", "en_CA", "en_AU", "en_IE", "en_NZ", "en_IN")


def user_locale() -> Locale:
    """The reader's locale from the browser's Accept-Language (en_GB when none fits).

    The browser draws its own time boxes in the same locale, so a hint written
    with it ("For example, 9:30 PM") reads as the box beside it does.
    """
    if not has_request_context():
        return Locale.parse(LOCALES[0])
    best = request.accept_languages.best_match([code.replace("_", "-") for code in LOCALES])
    return Locale.parse((best or LOCALES[0]).replace("-", "_"))


def clock(value: time | datetime) -> str:
    """A time of day as the reader's locale writes it: '21:30' (en_GB), '9:30 PM' (en_US)."""
    if isinstance(value, datetime):
        value = local(value).timetz().replace(tzinfo=None)
    return babel_dates.format_time(value, format="short", locale=user_locale())
