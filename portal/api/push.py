"""Push subscriptions for the web app: register this device, list, remove; the VAPID key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import jsonify, request
from flask_login import current_user, login_required
from pydantic import Field, StringConstraints

from portal.api.blueprint import ApiError, RequestBody, ResponseBody, body, bp
from portal.api.openapi import operation
from portal.notifications import services, vapid
from portal.notifications.models import PushSubscription


def _base64url(size: int) -> Annotated:
    """Text holding `size` bytes in base64url, padded or not (as browsers send keys)."""
    chars, padding = -(-size * 4 // 3), (-size) % 3
    pattern = rf"^[A-Za-z0-9_-]{{{chars}}}(?:={{{padding}}})?$"
    return Annotated[str, StringConstraints(pattern=pattern)]


class PushKeys(RequestBody):
    # The sizes notifications.services checks: an uncompressed P-256 point, a 16-byte secret.
    p256dh: Annotated[_base64url(65), Field(description="base64url P-256 public key")]
    auth: Annotated[_base64url(16), Field(description="base64url 16-byte secret")]


class PushSubscriptionJSON(RequestBody):
    """The browser's PushSubscription.toJSON()."""

    endpoint: Annotated[
        str, Field(description="A URL on a push service in PUSH_SERVICE_HOSTS (at most 1000).")
    ]
    # The browser's name: milliseconds since 1970, a JavaScript number (so at most 2**53).
    expirationTime: Annotated[float | None, Field(ge=0, le=2**53)] = None
    keys: PushKeys


class PushDevice(ResponseBody):
    """A device that receives notifications; its endpoint (a capability URL) is not shown."""

    id: int
    label: str = Field(examples=["Chrome on Android"])
    push_service: str = Field(examples=["https://fcm.googleapis.com"])
    created_at: datetime
    last_success_at: datetime | None


class PushDevices(ResponseBody):
    subscriptions: list[PushDevice] = Field(description="Oldest first.")


class VapidKey(ResponseBody):
    publicKey: str = Field(description="base64url uncompressed P-256 public key")


def _device(sub: PushSubscription) -> dict:
    """A subscription as `PushDevice`: only its push service is shown back."""
    return {
        "id": sub.id,
        "label": sub.label,
        "push_service": services.origin_of(sub.endpoint),
        "created_at": sub.created_at.isoformat(),
        "last_success_at": sub.last_success_at.isoformat() if sub.last_success_at else None,
    }


@bp.get("/push/vapid-public-key")
@operation(
    "The server's VAPID public key (the applicationServerKey to subscribe with)",
    ok={200: (VapidKey, "The key")},
)
@login_required
def push_vapid_public_key():
    return jsonify({"publicKey": vapid.public_key()})


@bp.get("/push/subscriptions")
@operation(
    "The signed-in user's devices that receive notifications",
    ok={200: (PushDevices, "Devices")},
)
@login_required
def push_subscriptions():
    return jsonify({"subscriptions": [_device(s) for s in services.devices(current_user.id)]})


@bp.post("/push/subscriptions")
@operation(
    "Register this browser's push subscription",
    description="The body is PushSubscription.toJSON(). Registering the same endpoint "
    "again updates its keys (200). An endpoint off the push-service allow-list or malformed "
    "keys answer 422; an account at its device limit answers 409.",
    body=PushSubscriptionJSON,
    ok={201: (PushDevice, "Registered"), 200: (PushDevice, "Already registered; keys updated")},
    errors=(409,),
)
@login_required
def push_subscribe():
    data = body(PushSubscriptionJSON)
    try:
        sub, created = services.subscribe(
            current_user._get_current_object(),
            data,
            user_agent=request.headers.get("User-Agent"),
        )
    except services.SubscriptionError as error:
        raise ApiError(error.status, error.message, error.fields) from None
    return jsonify(_device(sub)), 201 if created else 200


@bp.delete("/push/subscriptions/<int:subscription_id>")
@operation("Stop notifications to one of the user's devices", ok={204: (None, "Removed")})
@login_required
def push_unsubscribe(subscription_id: int):
    if not services.unsubscribe(current_user.id, subscription_id):
        raise ApiError(404, "There is no such device on your account.")
    return "", 204
