"""Notification domain operations: devices, preferences, quiet hours, reminders, plan notices.

Services take explicit arguments (the user, `now`) and never read the request;
views and the API call them and the request's single commit saves the result.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import delete, func, select

from portal.auth.models import User, UserKind
from portal.db import utcnow
from portal.extensions import db
from portal.notifications import kinds
from portal.notifications.models import NotificationPreference, PushSubscription

REMINDER_WINDOW = timedelta(hours=2)  # a reminder missed by more than this waits for tomorrow


# -- the push-service allow-list ------------------------------------------------------------


@dataclass(frozen=True)
class AllowedService:
    """One allow-list entry: a host name (HTTPS, port 443, `*.` for subdomains) or an origin."""

    scheme: str
    host: str
    port: int

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or port != self.port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


_DEFAULT_PORTS = {"https": 443, "http": 80}


def parse_allow_list(setting: str | Iterable[str | AllowedService]) -> list[AllowedService]:
    """Parse PUSH_SERVICE_HOSTS: comma-separated host names or origins like http://127.0.0.1:8099."""
    entries = setting.split(",") if isinstance(setting, str) else list(setting)
    allowed = []
    for raw in entries:
        if isinstance(raw, AllowedService):  # already parsed (the deliverer parses once)
            allowed.append(raw)
            continue
        entry = raw.strip().lower().rstrip("/")
        if not entry:
            continue
        if "://" in entry:
            parts = urlsplit(entry)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path:
                raise ValueError(f"PUSH_SERVICE_HOSTS: {raw.strip()!r} is not an origin")
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
            allowed.append(AllowedService(parts.scheme, parts.hostname, port))
        else:
            allowed.append(AllowedService("https", entry, 443))
    return allowed


_WHITESPACE = re.compile(r"\s")


def endpoint_origin(endpoint: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a well-formed push endpoint URL, or None."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.fragment:
        return None
    if _WHITESPACE.search(endpoint):
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_of(endpoint: str) -> str:
    """`scheme://host[:port]` of an endpoint: the VAPID audience and the connection pool key."""
    parsed = endpoint_origin(endpoint)
    if parsed is None:
        raise ValueError("not a push endpoint URL")
    scheme, host, port = parsed
    return f"{scheme}://{host}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{host}:{port}"


def endpoint_allowed(
    endpoint: str, setting: str | Iterable[str | AllowedService] | None = None
) -> bool:
    """True when the endpoint is on a push service named in PUSH_SERVICE_HOSTS."""
    if setting is None:
        setting = current_app.config["PUSH_SERVICE_HOSTS"]
    parsed = endpoint_origin(endpoint)
    if parsed is None:
        return False
    entries = _parsed_setting(setting) if isinstance(setting, str) else parse_allow_list(setting)
    return any(entry.matches(*parsed) for entry in entries)


@functools.lru_cache(maxsize=8)
def _parsed_setting(setting: str) -> tuple[AllowedService, ...]:
    """PUSH_SERVICE_HOSTS parsed once per distinct value, not once per endpoint checked."""
    return tuple(parse_allow_list(setting))


# -- devices ----------------------------------------------------------------------------------


class SubscriptionError(Exception):
    """A subscription that cannot be registered; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields or {}


def _b64url_bytes(value: object) -> bytes | None:
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    stripped = value.strip().rstrip("=")
    if not all(c.isalnum() or c in "-_" for c in stripped):
        return None
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def device_label(user_agent: str | None) -> str:
    """'Chrome on Android': enough for a person to tell their devices apart."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("OPR/", "Opera"),
                ("SamsungBrowser", "Samsung Internet"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if token in ua
        ),
        "A web browser",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "Mac"),
                ("CrOS", "ChromeOS"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        None,
    )
    return f"{browser} on {system}" if system else browser


def subscribe(
    user: User, data: dict, *, user_agent: str | None = None, now: datetime | None = None
) -> tuple[PushSubscription, bool]:
    """Register the browser's PushSubscription.toJSON() for `user`; (subscription, created).

    The same endpoint registering again updates its keys (created False). An
    endpoint another account registered on this browser moves to `user`: a
    device delivers to whoever subscribed on it last.
    """
    now = now or utcnow()
    fields: dict[str, str] = {}
    endpoint = data.get("endpoint")
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    if not isinstance(endpoint, str) or not endpoint.strip():
        fields["endpoint"] = "Send the subscription's endpoint URL."
    elif len(endpoint) > 1000 or endpoint_origin(endpoint.strip()) is None:
        fields["endpoint"] = "The endpoint is not a valid push service URL."
    elif not endpoint_allowed(endpoint.strip()):
        fields["endpoint"] = "The endpoint is not on a push service this portal sends to."
    p256dh = _b64url_bytes(keys.get("p256dh"))
    if p256dh is None or len(p256dh) != 65 or p256dh[0] != 4:
        fields["keys.p256dh"] = "keys.p256dh must be a base64url uncompressed P-256 public key."
    else:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
        except ValueError:
            fields["keys.p256dh"] = "keys.p256dh is not a point on the P-256 curve."
    auth = _b64url_bytes(keys.get("auth"))
    if auth is None or len(auth) != 16:
        fields["keys.auth"] = "keys.auth must be the 16-byte authentication secret, base64url."
    if fields:
        raise SubscriptionError(422, "This push subscription cannot be used.", fields)
    assert p256dh is not None and auth is not None and isinstance(endpoint, str)
    endpoint = endpoint.strip()

    existing = db.session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    )
    if existing is not None and existing.user_id == user.id:
        existing.p256dh, existing.auth = _b64url(p256dh), _b64url(auth)
        if user_agent:
            existing.user_agent, existing.label = user_agent[:200], device_label(user_agent)
        return existing, False
    limit = current_app.config["PUSH_MAX_SUBSCRIPTIONS"]
    count = db.session.scalar(
        select(func.count())
        .select_from(PushSubscription)
        .where(PushSubscription.user_id == user.id)
    )
    if count >= limit:
        raise SubscriptionError(
            409,
            f"Notifications are already on for {limit} devices, the most one account can have. "
            "Remove a device in your notification settings, then try again.",
        )
    if existing is not None:  # this browser was another account's device
        db.session.delete(existing)
        db.session.flush()
    subscription = PushSubscription(
        user_id=user.id,
        endpoint=endpoint,
        p256dh=_b64url(p256dh),
        auth=_b64url(auth),
        user_agent=(user_agent or "")[:200] or None,
        label=device_label(user_agent),
        created_at=now,
    )
    db.session.add(subscription)
    db.session.flush()
    return subscription, True


def devices(user_id: int) -> list[PushSubscription]:
    return list(
        db.session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.created_at, PushSubscription.id)
        )
    )


def unsubscribe(user_id: int, subscription_id: int) -> bool:
    """Remove one of the user's own devices; False when it is not theirs (or gone)."""
    result = db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.id == subscription_id, PushSubscription.user_id == user_id
        )
    )
    return bool(result.rowcount)


# -- preferences and quiet hours --------------------------------------------------------------


def zone_of(name: str | None) -> ZoneInfo:
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


# -- what notifies whom -----------------------------------------------------------------------


def portal_path(endpoint: str, **values) -> str:
    """A path inside the portal, built without a request (the deliverer has none)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def hour_bucket(now: datetime | None = None) -> str:
    """The UTC hour a digest belongs to, for dedupe keys: '2026112614'."""
    return (now or utcnow()).astimezone(UTC).strftime("%Y%m%d%H")


def patient_recipients(patient_user_id: int | None, patient_id: int) -> list[int]:
    """Who hears about the patient's own news: the patient's account.

    Caregivers holding the `notify` scope join here once delegated access exists.
    """
    return [patient_user_id] if patient_user_id is not None else []


def notify_plan_changed(access, now: datetime | None = None) -> list:
    """A change to the patient's plan: tell the patient, at most once an hour.

    Called by the care plan services with the Access of whoever changed it; a
    patient changing their own plan is not told about it.
    """
    from portal.notifications import enqueue

    recipients = [
        uid
        for uid in patient_recipients(access.patient_user_id, access.patient_id)
        if uid != access.actor_id
    ]
    if not recipients:
        return []
    now = now or utcnow()
    return enqueue(
        "plan_changed",
        recipients,
        url=portal_path("careplan.plan", patient_id=access.patient_id),
        patient_id=access.patient_id,
        dedupe_key=f"plan_changed:{access.patient_id}:{{user_id}}:{hour_bucket(now)}",
        now=now,
    )


def activity_dedupe_key(patient_id: int, now: datetime | None = None) -> str:
    """The digest key for patient activity: one notice per patient per clinician per hour."""
    return f"patient_activity:{patient_id}:{{user_id}}:{hour_bucket(now)}"


def _reminder_occurrence(reminder: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest local reminder time at or before `now`, in UTC."""
    local_now = now.astimezone(zone)
    occurrence = datetime.combine(local_now.date(), reminder, tzinfo=zone)
    if occurrence > local_now:
        occurrence = datetime.combine(local_now.date() - timedelta(days=1), reminder, tzinfo=zone)
    return occurrence


def enqueue_due_reminders(now: datetime | None = None) -> int:
    """Enqueue today's goal reminder for each patient whose chosen local time has come.

    Once per patient per local day: the dedupe key names the day, and the
    preference remembers it so the next runs skip the patient cheaply. Only
    patients with an active goal are reminded. Returns how many were enqueued.
    """
    from portal.goals.models import Goal, GoalStatus
    from portal.notifications import enqueue
    from portal.patients import Patient

    now = now or utcnow()
    rows = db.session.execute(
        select(NotificationPreference, User.timezone, Patient.id)
        .join(User, User.id == NotificationPreference.user_id)
        .join(Patient, Patient.user_id == User.id)
        .where(
            NotificationPreference.reminder_time.is_not(None),
            User.is_active_account.is_(True),
            User.kind == UserKind.PATIENT,
        )
    ).all()
    due: list[tuple[NotificationPreference, int, date]] = []
    for pref, tz, patient_id in rows:
        if pref.is_muted("reminders"):
            continue
        occurrence = _reminder_occurrence(pref.reminder_time, zone_of(tz), now)
        day = occurrence.date()
        if pref.last_reminder_on == day or now - occurrence > REMINDER_WINDOW:
            continue
        due.append((pref, patient_id, day))
    if not due:
        return 0
    with_goals = set(
        db.session.scalars(
            select(Goal.patient_id)
            .where(
                Goal.patient_id.in_([pid for _, pid, _ in due]),
                Goal.status == GoalStatus.ACTIVE,
            )
            .distinct()
        )
    )
    count = 0
    for pref, patient_id, day in due:
        pref.last_reminder_on = day
        if patient_id not in with_goals:
            continue
        count += len(
            enqueue(
                "goal_reminder",
                [pref.user_id],
                url=portal_path("careplan.home", patient_id=patient_id),
                patient_id=patient_id,
                dedupe_key=f"goal_reminder:{{user_id}}:{day.isoformat()}",
                now=now,
            )
        )
    db.session.flush()
    return count
