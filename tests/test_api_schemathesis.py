"""Schemathesis runs /api/v1/openapi.json against the app, signed in as a patient and a clinician.

Requests are generated from the description itself (valid bodies and broken
ones), sent over WSGI with a real session cookie and CSRF header, and every
answer is checked: no 5xx, and status, content type, headers and body as the
description says. The number of examples is bounded (`EXAMPLES` per operation
and relation) and derandomized, so the run is repeatable and quick.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from portal import create_app
from tests.matrix import ACCOUNTS
from tests.routes_goals import walk

EXAMPLES = 10


def _description() -> dict:
    """The description as the app serves it, read once at collection from an app of its own.

    (schemathesis.pytest.from_fixture would read it from the test's app, but its
    lazy loader does not run under pytest 9.)
    """
    app = create_app(
        {"PORTAL_ENV": "test", "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    return app.test_client().get("/api/v1/openapi.json").get_json()


schema = schemathesis.openapi.from_dict(_description())


_SESSIONS: dict[tuple[int, str], tuple[dict, dict]] = {}


def signed_in(demo, relation: str) -> tuple[dict, dict]:
    """(cookies, headers) of a real session: Alex, or Dr. Rivera on his team."""
    key = (id(demo), relation)
    if key not in _SESSIONS:
        _SESSIONS.clear()
        client = demo.login(ACCOUNTS[relation])
        token = client.csrf()  # first: it puts the token's secret into the session cookie
        cookie = client.get_cookie(demo.app.config["SESSION_COOKIE_NAME"])
        _SESSIONS[key] = {cookie.key: cookie.value}, {"X-CSRFToken": token}
    return _SESSIONS[key]


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@SETTINGS
def test_the_api_keeps_to_its_description_for_the_patient(case, demo):
    _call_and_check(case, demo, "patient")


@schema.parametrize()
@SETTINGS
def test_the_api_keeps_to_its_description_for_a_clinician(case, demo):
    _call_and_check(case, demo, "team")


def _call_and_check(case, demo, relation: str) -> None:
    cookies, headers = signed_in(demo, relation)
    # Aim at Alex's record, so the answers are more than 404s; other ids stay random.
    if "patient_id" in (case.path_parameters or {}):
        case.path_parameters["patient_id"] = demo.alex
    if "goal_id" in (case.path_parameters or {}):
        case.path_parameters["goal_id"] = _walk(demo)
    response = case.call(app=demo.app, cookies=cookies, headers=headers)
    case.validate_response(
        response,
        checks=[
            st_checks.not_a_server_error,
            st_checks.status_code_conformance,
            st_checks.content_type_conformance,
            st_checks.response_schema_conformance,
            st_checks.response_headers_conformance,
        ],
    )


_WALK: dict[int, int] = {}


def _walk(demo) -> int:
    if id(demo) not in _WALK:
        _WALK.clear()
        _WALK[id(demo)] = walk(demo)
    return _WALK[id(demo)]
