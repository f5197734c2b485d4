"""Your details: the name people see and the time zone times are shown in.

The name and time zone are read where pages show them (kept pages too): a
trigger on `users` renews `page_versions.people` when either changes
(portal/versions.py), so every page shows the new values at once.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import update

from portal.auth.models import User
from portal.extensions import db

# The IANA areas of real places; leaves out aliases like "US/Eastern" and "EST5EDT".
_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone of a place, sorted, and UTC."""
    zones = sorted(z for z in available_timezones() if z.split("/", 1)[0] in _AREAS)
    return (*zones, "UTC")


def zone_choices() -> dict[str, list[tuple[str, str]]]:
    """The zones grouped by area for a select's optgroups: {"America": [("America/New_York",
    "New York"), ...], ...}."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for zone in time_zones():
        area, _, place = zone.partition("/")
        label = place.replace("_", " ").replace("/", ", ") if place else zone
        groups.setdefault(area if place else "Other", []).append((zone, label))
    return groups


def valid_zone(zone: str) -> bool:
    if zone not in time_zones():
        return False
    ZoneInfo(zone)  # the database has it
    return True


def update_profile(user_id: int, name: str, timezone: str) -> None:
    """Save the name and time zone (the caller validated both)."""
    if not valid_zone(timezone):
        raise ValueError(f"unknown time zone {timezone!r}")
    db.session.execute(update(User).where(User.id == user_id).values(name=name, timezone=timezone))
