"""The OpenAPI description: complete, valid, and enforced on every answer the suite sees."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from portal.api import goals as goal_routes
from portal.api.blueprint import ApiError
from portal.goals import reading
from tests.openapi_check import BrokenDescription, check, description_of

ALEX = "alex@example.com"
GOALS = "/api/v1/patients/{}/goals"


def spec_of(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def test_the_description_is_valid_openapi_31(client):
    spec = spec_of(client)
    validate(spec)  # raises on anything the OpenAPI 3.1 schema refuses
    assert spec["openapi"] == "3.1.0" and spec["servers"] == [{"url": "/api/v1"}]


def test_every_api_route_and_method_is_described(app, client):
    spec = spec_of(client)
    described = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1")
            for name in rule.arguments:
                path = path.replace(f"<int:{name}>", f"{{{name}}}")
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == described
    assert (
        len(routes) == 20
    )  # goals 6, push 4, preferences 3, decisions 5, open patients, this document


def test_security_names_the_cookie_and_csrf_on_state_changing_requests(client):
    spec = spec_of(client)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": "cc_session"}
    assert schemes["csrf"] == {"type": "apiKey", "in": "header", "name": "X-CSRFToken"}
    assert spec["security"] == [{"session": []}]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path == "/openapi.json":
                assert op["security"] == [] and "401" not in op["responses"]
            elif method in ("post", "put", "patch", "delete"):
                assert op["security"] == [{"session": [], "csrf": []}], (path, method)
                assert {"400", "401"} <= set(op["responses"]), (path, method)
            else:
                assert "security" not in op and "401" in op["responses"], (path, method)


def test_every_error_answer_is_the_error_shape(client):
    spec = spec_of(client)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
    assert error["properties"]["fields"]["additionalProperties"] == {"type": "string"}
    for ops in spec["paths"].values():
        for op in ops.values():
            for status, answer in op["responses"].items():
                if status.startswith("4"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


def test_request_bodies_come_from_the_validating_models(client):
    spec = spec_of(client)
    schemas = spec["components"]["schemas"]
    entry = schemas["EntryInput"]["properties"]
    assert entry["note"]["anyOf"][0]["maxLength"] == 1000  # inputs.NOTE_MAX
    feeling = entry["feeling"]["anyOf"][0]
    assert (feeling["minimum"], feeling["maximum"]) == (1, 5)
    goal = schemas["GoalInput"]
    assert goal["required"] == ["title"]
    assert "minutes" in goal["properties"]["measure"]["anyOf"][0]["enum"]
    assert schemas["PushSubscriptionJSON"]["required"] == ["endpoint", "keys"]
    posted = spec["paths"]["/patients/{patient_id}/goals/{goal_id}/entries"]["post"]
    assert posted["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EntryInput"
    }


def test_the_goal_schema_lists_every_field_the_api_returns(client):
    """The six fields release 1's hand-written schema lacked are described, and required."""
    schemas = spec_of(client)["components"]["schemas"]
    assert {"sensitive", "shared_with_team", "agreed_at"} <= set(schemas["Goal"]["required"])
    assert {"progress", "unread_messages"} <= set(schemas["GoalWithProgress"]["required"])
    assert {"chart_summary", "entries"} <= set(schemas["GoalDetail"]["required"])
    assert all(schemas[n]["additionalProperties"] is False for n in ("Goal", "Entry", "Message"))


# -- the checker can fail -------------------------------------------------------


def _goals(demo):
    alex = demo.login(ALEX)
    return alex, alex.get(GOALS.format(demo.alex))


def _broken(app, response, change) -> None:
    body = response.get_json()
    change(body)
    response.set_data(json.dumps(body))
    with pytest.raises(BrokenDescription):
        check(description_of(app), response)


def test_a_correct_answer_passes_the_checker(app, demo):
    _, response = _goals(demo)
    check(description_of(app), response)  # no exception


def test_the_checker_fails_an_undescribed_field(app, demo):
    _broken(app, _goals(demo)[1], lambda body: body["goals"][0].update(secret="x"))


def test_the_checker_fails_a_missing_field(app, demo):
    _broken(app, _goals(demo)[1], lambda body: body["goals"][0].pop("sensitive"))


def test_the_checker_fails_a_wrong_type(app, demo):
    _broken(app, _goals(demo)[1], lambda body: body["goals"][0].update(id="1"))


def test_the_checker_fails_an_undocumented_status(app, demo):
    _, response = _goals(demo)
    response.status_code = 409  # listing goals never conflicts
    with pytest.raises(BrokenDescription, match="409"):
        check(description_of(app), response)


def test_the_suite_fails_a_route_that_answers_off_the_description(demo, monkeypatch):
    """Through the real client: a route returning an extra field fails the request's line."""
    alex = demo.login(ALEX)
    real = goal_routes.goal_json

    def leaky(*args, **kwargs):
        return {**real(*args, **kwargs), "internal_note": "for the team"}

    monkeypatch.setattr(goal_routes, "goal_json", leaky)
    with pytest.raises(BrokenDescription, match="internal_note"):
        alex.get(GOALS.format(demo.alex))


def test_the_suite_fails_an_undocumented_error_status(demo, monkeypatch):
    alex = demo.login(ALEX)

    def teapot(access, **kwargs):
        raise ApiError(418, "I'm a teapot.")

    monkeypatch.setattr(reading, "list_goals", teapot)
    with pytest.raises(BrokenDescription, match="418"):
        alex.get(GOALS.format(demo.alex))


def test_pages_outside_the_api_are_not_checked(app, demo):
    alex = demo.login(ALEX)
    page = alex.get(f"/p/{demo.alex}/goals")
    assert page.status_code == 200 and page.mimetype == "text/html"
