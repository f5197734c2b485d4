"""What every request's input must be before any view sees it.

The one place all paths go through, HTML forms and the JSON API alike, so a
route added tomorrow is covered too. It refuses, with a 4xx and a message a
person understands, what no field of this portal can ever store and what
would otherwise surface deep down as a 500:

- control characters (NUL, which PostgreSQL refuses; escape codes; C1) in any
  form value, JSON string or key, and any line break in the address (query
  strings hold single-line values: a CR/LF there is a header-injection try);
- lone surrogates ("\\ud800" in JSON), which cannot be stored as UTF-8;
- a value far longer than any field allows (each field's own limit, lower,
  is checked by its form or model and shown next to the field);
- JSON nested deeper than any body of the API is (a deeply nested body
  otherwise exhausts Python's recursion in a parser);
- ids in URLs beyond what an integer key holds (2**31 - 1), or written with
  digits other than 0-9 (both simply match no route: 404).

Bodies larger than MAX_CONTENT_LENGTH are refused by Werkzeug (413) before
this runs. Numbers, dates and choices are each field's own business.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, ValidationError

FIELD_MAX = 20_000  # characters in one value; the longest field (a concern's detail) takes 4000
ARG_MAX = 2_000  # characters in one query-string value
JSON_DEPTH_MAX = 32  # the API's deepest body is 2 levels; a PWA sync batch would be 3
# The largest id an `Integer` key holds on PostgreSQL (int4): every id in a URL
# names such a key, and a larger one bound to it is an error there (a 500),
# not "no such row". Schemathesis found it on DELETE /api/v1/push/subscriptions/<id>.
ID_MAX = 2**31 - 1

# C0 controls but tab, LF and CR (text areas send line breaks), DEL, C1, lone surrogates.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# In the address every control character is refused, line breaks too.
_UNSTORABLE_IN_URL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

CHARACTERS = (
    "Something you sent contains a character that cannot be saved, such as an "
    "invisible control character. Retype it without copying and pasting, and try again."
)
FIELD_CHARACTERS = "Remove the invisible or special characters from this answer"
TOO_LONG = (
    f"Something you sent is far longer than any answer here can be (over {FIELD_MAX:,} "
    "characters). Shorten it and try again."
)
FIELD_TOO_LONG = f"Keep this under {FIELD_MAX:,} characters"
ADDRESS = "The address of this page is not right. Go back and follow the link again."
TOO_DEEP = "The request could not be understood: the JSON is nested too deeply."


class Refused(Exception):
    """Input no view may see: the status, a message for people, and the field it is about."""

    def __init__(self, message: str, field: str | None = None, field_message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fields = {field: field_message} if field else {}


def _check_value(name: str, value: str, limit: int, pattern: re.Pattern[str]) -> None:
    if pattern.search(name) or pattern.search(value):
        raise Refused(CHARACTERS, name if not pattern.search(name) else None, FIELD_CHARACTERS)
    if len(value) > limit or len(name) > limit:
        raise Refused(TOO_LONG, name, FIELD_TOO_LONG)


def _check_json(document: Any) -> None:
    """Walk a parsed JSON document without recursion: depth, strings and keys."""
    stack: list[tuple[str, Any, int]] = [("body", document, 0)]
    while stack:
        path, node, depth = stack.pop()
        if depth > JSON_DEPTH_MAX:
            raise Refused(TOO_DEEP)
        if isinstance(node, str):
            _check_value(path, node, FIELD_MAX, _UNSTORABLE)
        elif isinstance(node, dict):
            for key, value in node.items():
                name = key if path == "body" else f"{path}.{key}"
                _check_value(name, "", FIELD_MAX, _UNSTORABLE)
                stack.append((name, value, depth + 1))
        elif isinstance(node, list):
            stack.extend((path, value, depth + 1) for value in node)


def check_request() -> None:
    """Refuse the request (Refused) when its address, form or JSON holds unusable input."""
    for name, value in request.args.items(multi=True):
        if _UNSTORABLE_IN_URL.search(name) or _UNSTORABLE_IN_URL.search(value):
            raise Refused(ADDRESS)
        if len(value) > ARG_MAX:
            raise Refused(ADDRESS)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.is_json:
        try:
            document = json.loads(request.get_data(cache=True))
        except RecursionError:
            raise Refused(TOO_DEEP) from None
        except ValueError:
            return  # not JSON at all: the view's own parser says so (400)
        _check_json(document)
    else:
        for name, value in request.form.items(multi=True):
            _check_value(name, value, FIELD_MAX, _UNSTORABLE)


class IdConverter(IntegerConverter):
    """`<int:...>` in URLs: ASCII digits only (\\d would match "٣"), at most ID_MAX."""

    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > ID_MAX:
            raise ValidationError()  # no such row: the route does not match, 404
        return number


def install(app: Flask) -> None:
    """Check every request's input before CSRF, sign-in and views see it."""
    app.url_map.converters["int"] = IdConverter

    @app.before_request
    def refuse_unusable_input() -> None:
        check_request()

    @app.errorhandler(Refused)
    def refused(error: Refused):
        from portal.web import _error_response

        return _error_response(400, error.message, error.fields)
