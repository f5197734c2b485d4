"""A person's notification choices: categories turned off, quiet hours, the daily reminder.

`preferences` and `save_preferences` serve the settings page; `quiet_until`
says when a notice that falls inside someone's quiet hours may go instead
(the outbox holds it at enqueue, the deliverer again before sending, so a
change of mind in between still counts). `zone_of` reads a user's time zone,
falling back to UTC for a name this system does not know.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.auth.models import User, UserKind
from portal.extensions import db
from portal.notifications import kinds
from portal.notifications.models import NotificationPreference


def zone_of(name: str | None) -> ZoneInfo:
    """A user's time zone by name; UTC when the name is empty or unknown here."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def preferences(user_id: int) -> NotificationPreference:
    """The user's preferences (defaults, not yet saved, when they never chose)."""
    pref = db.session.get(NotificationPreference, user_id)
    if pref is None:
        pref = NotificationPreference(user_id=user_id, muted=[])
    return pref


def save_preferences(
    user: User,
    *,
    enabled: Iterable[str],
    quiet_start: time | None,
    quiet_end: time | None,
    reminder_time: time | None = None,
) -> NotificationPreference:
    """Store the user's choices. Categories the user cannot see keep their setting."""
    if (quiet_start is None) != (quiet_end is None):
        raise ValueError("Give quiet hours both a start and an end, or neither.")
    if quiet_start is not None and quiet_start == quiet_end:
        raise ValueError("Quiet hours must start and end at different times.")
    pref = preferences(user.id)
    offered = {c.name for c in kinds.categories_for(user.kind)}
    enabled = set(enabled)
    kept = [name for name in (pref.muted or []) if name not in offered]
    pref.muted = sorted(kept + [name for name in offered if name not in enabled])
    pref.quiet_start, pref.quiet_end = quiet_start, quiet_end
    if user.kind is UserKind.PATIENT:
        if reminder_time != pref.reminder_time:
            pref.last_reminder_on = None
        pref.reminder_time = reminder_time
    db.session.add(pref)
    db.session.flush()
    return pref


def quiet_until(
    pref: NotificationPreference | None, zone: ZoneInfo, at: datetime
) -> datetime | None:
    """When the quiet hours around `at` end (UTC), or None when `at` is not in quiet hours."""
    if pref is None or pref.quiet_start is None or pref.quiet_end is None:
        return None
    start, end = pref.quiet_start, pref.quiet_end
    if start == end:
        return None
    moment = at.astimezone(zone)
    clock = moment.time().replace(tzinfo=None)
    if start < end:  # e.g. 13:00-15:00
        if not start <= clock < end:
            return None
        end_day = moment.date()
    else:  # overnight, e.g. 22:00-07:00
        if clock >= start:
            end_day = moment.date() + timedelta(days=1)
        elif clock < end:
            end_day = moment.date()
        else:
            return None
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
