"""Push subscriptions for the web app: register this device, list, remove; the VAPID key."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user, login_required

from portal.api import ApiError, bp, document, error_responses, json_body, schema
from portal.notifications import services, vapid
from portal.notifications.models import PushSubscription


def _device(sub: PushSubscription) -> dict:
    # The endpoint is a capability URL: only its push service is shown back.
    return {
        "id": sub.id,
        "label": sub.label,
        "push_service": services.origin_of(sub.endpoint),
        "created_at": sub.created_at.isoformat(),
        "last_success_at": sub.last_success_at.isoformat() if sub.last_success_at else None,
    }


@bp.get("/push/vapid-public-key")
@login_required
def push_vapid_public_key():
    return jsonify({"publicKey": vapid.public_key()})


@bp.get("/push/subscriptions")
@login_required
def push_subscriptions():
    return jsonify({"subscriptions": [_device(s) for s in services.devices(current_user.id)]})


@bp.post("/push/subscriptions")
@login_required
def push_subscribe():
    data = json_body()
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
@login_required
def push_unsubscribe(subscription_id: int):
    if not services.unsubscribe(current_user.id, subscription_id):
        raise ApiError(404, "There is no such device on your account.")
    return "", 204


schema(
    "PushSubscriptionJSON",
    {
        "type": "object",
        "description": "The browser's PushSubscription.toJSON().",
        "required": ["endpoint", "keys"],
        "properties": {
            "endpoint": {
                "type": "string",
                "format": "uri",
                "description": "Must be on a push service in PUSH_SERVICE_HOSTS.",
            },
            "expirationTime": {"type": ["number", "null"]},
            "keys": {
                "type": "object",
                "required": ["p256dh", "auth"],
                "properties": {
                    "p256dh": {"type": "string", "description": "base64url P-256 public key"},
                    "auth": {"type": "string", "description": "base64url 16-byte secret"},
                },
            },
        },
    },
)
schema(
    "PushDevice",
    {
        "type": "object",
        "required": ["id", "label", "push_service", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "label": {"type": "string", "examples": ["Chrome on Android"]},
            "push_service": {"type": "string", "examples": ["https://fcm.googleapis.com"]},
            "created_at": {"type": "string", "format": "date-time"},
            "last_success_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
)


def _device_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushDevice"}}},
    }


document(
    "/push/vapid-public-key",
    "get",
    {
        "summary": "The server's VAPID public key (the applicationServerKey to subscribe with)",
        "tags": ["push"],
        "responses": {
            "200": {
                "description": "base64url uncompressed P-256 public key",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["publicKey"],
                            "properties": {"publicKey": {"type": "string"}},
                        }
                    }
                },
            },
            **error_responses(401),
        },
    },
)
document(
    "/push/subscriptions",
    "get",
    {
        "summary": "The signed-in user's devices that receive notifications",
        "tags": ["push"],
        "responses": {
            "200": {
                "description": "Devices, oldest first",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "subscriptions": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/PushDevice"},
                                }
                            },
                        }
                    }
                },
            },
            **error_responses(401),
        },
    },
)
document(
    "/push/subscriptions",
    "post",
    {
        "summary": "Register this browser's push subscription",
        "description": "The body is PushSubscription.toJSON(). Registering the same endpoint "
        "again updates its keys (200). An endpoint off the push-service allow-list or malformed "
        "keys answer 422; an account at its device limit answers 409.",
        "tags": ["push"],
        "security": [{"session": [], "csrf": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/PushSubscriptionJSON"}
                }
            },
        },
        "responses": {
            "201": _device_response("Registered"),
            "200": _device_response("Already registered; keys updated"),
            **error_responses(400, 401, 409, 415, 422),
        },
    },
)
document(
    "/push/subscriptions/{subscription_id}",
    "delete",
    {
        "summary": "Stop notifications to one of the user's devices",
        "tags": ["push"],
        "security": [{"session": [], "csrf": []}],
        "parameters": [
            {
                "name": "subscription_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer"},
            }
        ],
        "responses": {"204": {"description": "Removed"}, **error_responses(401, 404)},
    },
)
