"""Every API answer the suite sees is checked against /api/v1/openapi.json.

An autouse fixture in `conftest.py` runs each test inside `checking_every_client`:
every test client's request to /api/v1/ has its answer validated with openapi-core (the
status is documented for that operation, the content type and the body match
its schema). An answer that breaks the description fails the test that made
it, at the line that made the request. Requests are not checked: tests send
bad ones on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

PREFIX = "/api/v1/"


class BrokenDescription(AssertionError):
    """An API answer that /api/v1/openapi.json does not describe."""


class _AnsweredRequest(WerkzeugOpenAPIRequest):
    """The request behind an answer; its body was read by the app and is not needed."""

    @property
    def body(self) -> bytes | None:
        return None


def description_of(app: Flask) -> OpenAPI:
    """The app's served OpenAPI document, itself checked against the OpenAPI 3.1 schema."""
    if "openapi_check" not in app.extensions:
        served = FlaskClient(app).get(PREFIX + "openapi.json")
        assert served.status_code == 200, served.get_data(as_text=True)
        app.extensions["openapi_check"] = OpenAPI.from_dict(served.get_json())
    return app.extensions["openapi_check"]


def check(openapi: OpenAPI, response) -> None:
    """Raise BrokenDescription unless `response` (to an /api/v1/ request) is as described."""
    request = response.request
    if not request.path.startswith(PREFIX):
        return
    try:
        openapi.validate_response(_AnsweredRequest(request), WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound):
        # No such operation: the description promises nothing but "not here".
        if response.status_code not in (404, 405):
            raise BrokenDescription(_said(request, response, "undescribed operation")) from None
    except Exception as error:  # openapi-core's many error types, one verdict
        cause = error.__cause__
        details = "; ".join(str(e.message) for e in getattr(cause, "schema_errors", ()) or [])
        raise BrokenDescription(_said(request, response, f"{error!r} {details}")) from error


def _said(request, response, problem: str) -> str:
    body = response.get_data(as_text=True)[:500]
    return (
        f"{request.method} {request.path} answered {response.status_code} "
        f"against /api/v1/openapi.json: {problem}\n{body}"
    )


@contextmanager
def checking_every_client(app: Flask, monkeypatch) -> Iterator[None]:
    """Wrap every test client (FlaskClient and its subclasses) while the block runs."""
    openapi = description_of(app)
    original = FlaskClient.open

    def open_and_check(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        check(openapi, response)
        return response

    monkeypatch.setattr(FlaskClient, "open", open_and_check)
    try:
        yield
    finally:
        monkeypatch.setattr(FlaskClient, "open", original)
