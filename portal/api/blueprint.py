"""The API blueprint, its JSON errors, and reading a request body through its schema.

Errors are JSON: `{"error": "...", "fields": {"name": "message"}}`. A body is
checked in two steps that answer together: the schema (pydantic) checks its
shape (which fields, JSON types, formats); the feature's own rules (for goals,
`portal.goals.inputs`) then check the fields whose shape is right. Either way
every problem comes back at once, with a message a person understands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, abort, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# No row has an id past a signed 64-bit integer, and SQLite's driver cannot even
# bind one (a 500): such an id is simply not found.
ID_MAX = 2**63 - 1

Model = TypeVar("Model", bound=BaseModel)


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


@bp.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and any(isinstance(v, int) and v > ID_MAX for v in values.values()):
        abort(404)


# defer_build: a model's validator is built when it first checks a body (or the
# OpenAPI description is asked for), not at import: each worker builds only
# those its requests use. All of them at import cost every worker 1 MiB.


class RequestBody(BaseModel):
    """A JSON request body: strict JSON types, no NaN; unknown fields are ignored."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, defer_build=True)


class ResponseBody(BaseModel):
    """A JSON response body: every field listed, nothing else (the suite checks it)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


@dataclass(frozen=True)
class Says:
    """Annotated metadata: what to tell a person whose value has the wrong shape."""

    text: str


INVALID = "Check the answers shown."
_SAYS = {
    "missing": "This is required",
    "string_type": "Write this as text",
    "bool_type": "Answer true or false",
    "int_type": "Enter a whole number",
    "float_type": "Enter a number",
    "finite_number": "Enter a number",
    "dict_type": "Send this as a JSON object",
    "model_type": "Send this as a JSON object",
    "date_type": "Enter the date like 2026-12-01",
    "date_parsing": "Enter the date like 2026-12-01",
    "date_from_datetime_parsing": "Enter the date like 2026-12-01",
    "string_pattern_mismatch": "This is not in the expected form",
}


def _leaf(model: type[BaseModel] | None, loc: tuple) -> tuple[str, FieldInfo | None]:
    """The dotted field name a problem is about, and that field (union alternatives dropped)."""
    names: list[str] = []
    field = None
    for part in loc:
        fields = model.model_fields if model is not None else {}
        if not isinstance(part, str) or part not in fields:
            break
        field = fields[part]
        names.append(part)
        inner = field.annotation
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return ".".join(names) or "body", field


def _message(field: FieldInfo | None, problem: Any) -> str:
    said = next((m.text for m in field.metadata if isinstance(m, Says)), None) if field else None
    ctx = problem.get("ctx") or {}
    kind = problem["type"]
    if said and kind != "missing":
        return said
    if kind == "string_too_long":
        return f"Keep this under {ctx['max_length']} characters"
    if kind in ("literal_error", "enum"):
        return f"Choose one of {ctx.get('expected', '')}".strip()
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"Enter a number {'from' if 'ge' in ctx else 'up to'} {ctx.get('ge', ctx.get('le'))}"
    return _SAYS.get(kind, "This is not a value that can be used")


def shape_problems(model: type[BaseModel], error: ValidationError) -> dict[str, str]:
    """One message per field (dotted for nested fields), the first problem found for each."""
    fields: dict[str, str] = {}
    for problem in error.errors(include_url=False):
        name, field = _leaf(model, problem["loc"])
        fields.setdefault(name, _message(field, problem))
    return fields


Rules = Callable[[Mapping[str, Any]], dict[str, str]]


def body(model: type[Model], rules: Rules | None = None) -> dict[str, Any]:
    """The request's JSON body checked against `model`, as plain JSON values for the services.

    On a shape problem, `rules` (the feature's own check: messages by field) is
    run on the fields whose shape is right, so one answer names every problem.
    """
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON (Content-Type: application/json).")
    try:
        checked = model.model_validate_json(request.get_data())
    except ValidationError as error:
        if any(not p["loc"] for p in error.errors()):
            raise ApiError(400, "The body must be a JSON object.") from None
        fields = shape_problems(model, error)
        if rules is not None:
            # The rules name a field the way a person needs to hear it ("Enter a
            # number of minutes, like 20"), so their message wins where both speak.
            fields.update(_rule_problems(rules, fields))
        raise ApiError(422, INVALID, fields) from None
    return checked.model_dump(mode="json", exclude_unset=True)


def _rule_problems(rules: Rules, bad: dict[str, str]) -> dict[str, str]:
    raw = request.get_json(silent=True)
    sound = {k: v for k, v in raw.items() if k not in bad} if isinstance(raw, dict) else {}
    return rules(sound)
