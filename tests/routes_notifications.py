"""Access matrix rows for notification settings and the push API.

These routes are about the signed-in user, not a patient: everyone signed in
gets their own settings; a device belongs to one account and is 404 to others.
"""

import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from portal.extensions import db
from portal.notifications.models import PushSubscription
from portal.notifications.services import _b64url
from tests.matrix import LOGIN, Case

SIGNED_IN = ("patient", "other_patient", "team", "off_team")


def everyone(status: int, anonymous: int) -> dict[str, int]:
    return {"anonymous": anonymous, **{r: status for r in SIGNED_IN}}


def only_alex(status: int, anonymous: int) -> dict[str, int]:
    return {"anonymous": anonymous, "patient": status, **{r: 404 for r in SIGNED_IN[1:]}}


_KEY = ec.generate_private_key(ec.SECP256R1()).public_key()
P256DH = _b64url(
    _KEY.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)


def subscription_json(demo):
    return {
        "endpoint": "https://fcm.googleapis.com/fcm/send/matrix-device",
        "expirationTime": None,
        "keys": {"p256dh": P256DH, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    }


def alex_device(demo):
    """Alex's registered device (made here so each relation's request has one to aim at)."""
    with demo.app.app_context():
        sub = PushSubscription(
            user_id=demo.users["alex@example.com"],
            endpoint=f"https://fcm.googleapis.com/fcm/send/alex-phone-{uuid.uuid4().hex}",
            p256dh=P256DH,
            auth="AAAAAAAAAAAAAAAAAAAAAA",
        )
        db.session.add(sub)
        db.session.commit()
        return {"subscription_id": sub.id}


ROUTES = [
    Case("notifications.settings", everyone(200, LOGIN), args=lambda demo: {}),
    Case(
        "notifications.settings",
        everyone(302, LOGIN),
        method="POST",
        args=lambda demo: {},
        form=lambda demo: {"quiet_start": "21:30", "quiet_end": "07:00"},
    ),
    Case("notifications.remove_device", only_alex(302, LOGIN), method="POST", args=alex_device),
    Case("api.push_vapid_public_key", everyone(200, 401), args=lambda demo: {}),
    Case("api.push_subscriptions", everyone(200, 401), args=lambda demo: {}),
    Case(
        "api.push_subscribe",
        everyone(201, 401),
        method="POST",
        args=lambda demo: {},
        json=subscription_json,
    ),
    Case(
        "api.push_unsubscribe",
        only_alex(204, 401),
        method="DELETE",
        args=alex_device,
        json=lambda demo: {},
    ),
]
