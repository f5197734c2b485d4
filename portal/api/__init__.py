"""JSON API v1 for the web app: the same services as the HTML views.

Feature modules add routes to `bp` and describe them with `document(...)`;
`/api/v1/openapi.json` assembles the OpenAPI 3.1 document from those pieces.
Errors are JSON: `{"error": "...", "fields": {"name": "message"}}`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PATHS: dict[str, dict[str, Any]] = {}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for people."},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "A message per invalid field.",
            },
        },
    }
}


class ApiError(Exception):
    """A 4xx answer with a message a person understands, and per-field messages."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields or {}


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    body: dict[str, Any] = {"error": error.message}
    if error.fields:
        body["fields"] = error.fields
    return jsonify(body), error.status


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400/415 ApiError."""
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON (Content-Type: application/json).")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def document(path: str, method: str, operation: dict[str, Any]) -> None:
    """Describe one operation in the OpenAPI document."""
    PATHS.setdefault(path, {})[method.lower()] = operation


def schema(name: str, definition: dict[str, Any]) -> None:
    SCHEMAS[name] = definition


def error_responses(*statuses: int) -> dict[str, Any]:
    """OpenAPI response entries for the given error statuses."""
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    text = {
        400: "Malformed request",
        401: "Not signed in",
        403: "Not allowed for this relation",
        404: "No such patient or object (or no relation to it)",
        409: "Conflict",
        413: "Too large",
        415: "Not JSON",
        422: "Invalid fields",
        429: "Too many",
    }
    return {str(s): {"description": text.get(s, "Error"), **ref} for s in statuses}


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "CareCircle API",
                "version": "1.0.0",
                "description": "JSON API for the CareCircle web app. Authentication is the "
                "portal's session cookie; state-changing requests need the X-CSRFToken header.",
            },
            "servers": [{"url": "/api/v1"}],
            "paths": dict(sorted(PATHS.items())),
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "session": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
                    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
                },
            },
            "security": [{"session": []}],
        }
    )


# Route modules: goals (goals, entries, threads), push (push subscriptions).
from portal.api import goals, push  # noqa: E402, F401
