"""Times and dates as people read them, in the signed-in user's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
