"""The OpenAPI 3.1 description, built from the routes and the pydantic models they use.

Each API view is marked with `@operation(...)`: its summary, its request body
model, its success answers and the errors only it gives. Everything else is
read off the app: paths and path parameters from the URL rules, the schemas
from the same models that check request bodies, and the errors every route of
a kind can give (401 when signed out, 400 for a missing CSRF token, 403/404 for
a patient's routes, 400/413/415/422 for a body). A route with no `@operation`
makes building the description fail, so none goes undescribed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from werkzeug.routing import Rule

from portal.api.blueprint import ID_MAX, ResponseBody, bp

REF = "#/components/schemas/{model}"
SAFE = {"GET", "HEAD", "OPTIONS"}
WHY = {
    400: "Malformed request (control characters, JSON nested too deeply, ...), "
    "or the CSRF token is missing or stale",
    401: "Not signed in",
    403: "Not allowed for this relation",
    404: "No such patient or object (or no relation to it)",
    409: "Conflict",
    413: "The body is larger than the server takes (MAX_CONTENT_LENGTH)",
    415: "The body is not JSON",
    422: "Invalid fields: `fields` names each with a message",
}


class Error(ResponseBody):
    """Every error answer: a message for people, and one per invalid field."""

    error: str = Field(description="What went wrong, for people.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="A message per invalid field (nested fields dotted, like keys.auth); "
        "left out when there are none.",
    )


class OpenAPIDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str


@dataclass(frozen=True)
class Operation:
    summary: str
    ok: dict[int, tuple[type[BaseModel] | None, str]]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    description: str = ""
    headers: tuple[dict[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    public: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def operation(summary: str, **details: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Describe an API view for the OpenAPI document (see `Operation` for the details)."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        view.operation = Operation(summary, **details)  # type: ignore[attr-defined]
        return view

    return mark


class _NoFieldTitles(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path (relative to the server URL) and its path parameters."""
    parameters = []
    for converter, name in _ARGUMENT.findall(rule.rule):
        kind = {"type": "integer", "minimum": 1, "maximum": ID_MAX} if converter == "int" else {}
        parameters.append({"name": name, "in": "path", "required": True, "schema": kind})
    path = _ARGUMENT.sub(r"{\2}", rule.rule).removeprefix(bp.url_prefix or "")
    return path, parameters


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}


def _answers(op: Operation, method: str, view: Any, has_params: bool) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, (model, text) in sorted(op.ok.items()):
        answers[str(status)] = {"description": text}
        if model is not None:
            answers[str(status)]["content"] = _content(model)
    errors = set(op.errors)
    if not op.public:
        errors.add(401)
    if method not in SAFE:
        errors |= {400, 413}  # CSRF, unusable input; a body over the limit
    if op.body is not None:
        errors |= {400, 415, 422}
    if has_params:
        errors.add(404)
    if getattr(view, "required_scope", None):
        errors |= {403, 404}
    for status in sorted(errors):
        answers[str(status)] = {"description": WHY[status], "content": _content(Error)}
    return answers


def _operation(rule: Rule, method: str, view: Any) -> dict[str, Any]:
    op: Operation = view.operation
    path_params = _path(rule)[1]
    described: dict[str, Any] = {
        "operationId": rule.endpoint.removeprefix("api."),
        "summary": op.summary,
        **({"description": op.description} if op.description else {}),
        "tags": list(op.tags) or [view.__module__.rsplit(".", 1)[-1]],  # goals, push, ...
        **({"parameters": path_params + list(op.headers)} if path_params or op.headers else {}),
    }
    if op.body is not None:
        described["requestBody"] = {"required": True, "content": _content(op.body)}
    if op.public:
        described["security"] = []
    elif method not in SAFE:
        described["security"] = [{"session": [], "csrf": []}]
    described["responses"] = _answers(op, method, view, bool(path_params))
    return {**described, **op.extra}


def _models(operations: list[Operation]) -> dict[str, Any]:
    inputs = {op.body for op in operations if op.body is not None}
    outputs = {m for op in operations for m, _ in op.ok.values() if m is not None} | {Error}
    pairs = [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs]
    _, top = models_json_schema(
        sorted(pairs, key=lambda p: p[0].__name__),
        ref_template=REF,
        schema_generator=_NoFieldTitles,
    )
    return dict(sorted(top.get("$defs", {}).items()))


def describe(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every route of the API blueprint."""
    paths: dict[str, dict[str, Any]] = {}
    operations = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(f"{bp.name}."):
            continue
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "operation"):
            raise LookupError(f"{rule.endpoint} has no @operation: describe it for OpenAPI")
        operations.append(view.operation)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(_path(rule)[0], {})[method.lower()] = _operation(rule, method, view)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CareCircle API",
            "version": "1.0.0",
            "description": "JSON API for the CareCircle web app. Authentication is the "
            "portal's session cookie; state-changing requests also need the X-CSRFToken "
            "header (the token from the page's csrf-token meta tag). Unknown body fields "
            "are ignored. Errors are JSON: see the Error schema.",
        },
        "servers": [{"url": bp.url_prefix}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _models(operations),
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": app.config.get("SESSION_COOKIE_NAME", "session"),
                },
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
        "security": [{"session": []}],
    }


@bp.get("/openapi.json")
@operation(
    "This description of the API",
    ok={200: (OpenAPIDocument, "The OpenAPI 3.1 document")},
    public=True,
)
def openapi():
    """The OpenAPI 3.1 description of this API (built once per app)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = describe(app)
    return jsonify(app.extensions["openapi"])
