"""What the settings page, the API and other features ask of notifications.

A person's devices: `subscribe` registers a browser's push subscription
(checked against the allow-list and the per-account limit), `devices` lists
them, `unsubscribe` removes one. And the notices other features raise through
a helper here: `notify_plan_changed` for the care plan (the patient, at most
once an hour, never for their own change), and `activity_dedupe_key`, the
key of the team's hourly digest of patient activity.
Services take explicit arguments (the user, `now`) and never read the request;
the request's single commit saves what they add.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, func, select

from portal.auth.models import User
from portal.caregivers.reading import notified_caregivers
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.endpoints import endpoint_allowed, endpoint_origin

# The API lists each device's push service as `services.origin_of(endpoint)`.
from portal.notifications.endpoints import origin_of as origin_of
from portal.notifications.models import PushSubscription
from portal.notifications.outbox import enqueue, hour_bucket, portal_path

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
        from cryptography.hazmat.primitives.asymmetric import ec  # a subscription's rare check

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
    """The user's devices, oldest first."""
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


# -- notices other features raise -------------------------------------------------------------


def patient_recipients(
    patient_user_id: int | None, patient_id: int, *, sensitive: bool = False
) -> list[int]:
    """Who hears about the patient's own news: the patient, and caregivers granted `notify`.

    News about a sensitive item reaches only caregivers whose grant includes
    sensitive items (never a guardian, whose view of them depends on the age):
    a notice, even without words, would be a trace of a hidden item.
    """
    recipients = [patient_user_id] if patient_user_id is not None else []
    return recipients + notified_caregivers(patient_id, sensitive=sensitive)


def notify_plan_changed(access, now: datetime | None = None, *, sensitive: bool = False) -> list:
    """A change to the patient's plan: tell the patient, at most once an hour.

    Called by the care plan services with the Access of whoever changed it; a
    patient changing their own plan is not told about it.
    """
    recipients = [
        uid
        for uid in patient_recipients(
            access.patient_user_id, access.patient_id, sensitive=sensitive
        )
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
