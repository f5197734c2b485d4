"""The goals JSON API: same services as the pages, JSON errors, idempotent entries."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.goals.models import Goal, ProgressEntry
from portal.notifications.models import Notification

ALEX = "alex@example.com"


def walk_id(demo) -> int:
    with demo.app.app_context():
        return db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.measure == "minutes")
        )


def entries(demo, **where) -> int:
    with demo.app.app_context():
        query = select(func.count()).select_from(ProgressEntry)
        for name, value in where.items():
            query = query.where(getattr(ProgressEntry, name) == value)
        return db.session.scalar(query)


def post_entry(client, demo, body, key: str | None = None, goal: int | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    url = f"/api/v1/patients/{demo.alex}/goals/{goal or walk_id(demo)}/entries"
    return client.api("POST", url, json=body, headers=headers)


def test_list_goals_with_progress(demo):
    alex = demo.login(ALEX)
    body = alex.get(f"/api/v1/patients/{demo.alex}/goals").get_json()
    walk = next(g for g in body["goals"] if g["measure"] == "minutes")
    assert walk["target_value"] == 30 and walk["unit"] == "minutes"
    assert walk["proposed_by"]["name"] == "Alex Morgan"
    assert walk["agreed_by"]["name"] == "Dr. Riley Rivera"
    assert walk["progress"]["logged_today"] is True
    assert "this week" in walk["progress"]["this_week"]
    assert walk["url"] == f"/p/{demo.alex}/goals/{walk['id']}"
    assert any(g["status"] == "proposed" for g in body["goals"])


def test_an_entry_sent_twice_is_stored_once(demo):
    alex = demo.login(ALEX)
    key = str(uuid.uuid4())
    body = {"value": 25, "note": "Offline walk", "feeling": 4, "entry_date": None}
    first = post_entry(alex, demo, body, key)
    assert first.status_code == 201
    again = post_entry(alex, demo, body, key)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert entries(demo, note="Offline walk") == 1
    assert first.get_json()["value"] == 25 and first.get_json()["feeling"] == 4


def test_same_key_with_another_body_is_a_conflict(demo):
    alex = demo.login(ALEX)
    key = str(uuid.uuid4())
    assert post_entry(alex, demo, {"value": 25}, key).status_code == 201
    conflict = post_entry(alex, demo, {"value": 26}, key)
    assert conflict.status_code == 409
    assert "different details" in conflict.get_json()["error"]
    with demo.app.app_context():
        other_goal = db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.measure == "servings")
        )
    assert post_entry(alex, demo, {"value": 25}, key, goal=other_goal).status_code == 409


def test_the_idempotency_key_is_required_and_checked(demo):
    alex = demo.login(ALEX)
    body = {"value": 25, "note": "Key test"}
    missing = post_entry(alex, demo, body)
    assert missing.status_code == 400
    assert "Idempotency-Key" in missing.get_json()["error"]
    assert post_entry(alex, demo, body, "short").status_code == 400
    assert post_entry(alex, demo, body, "no spaces allowed").status_code == 400
    assert entries(demo, note="Key test") == 0


def test_invalid_values_are_422_with_fields_and_nothing_stored(demo):
    alex = demo.login(ALEX)
    before = entries(demo)
    response = post_entry(
        alex,
        demo,
        {"value": 5000, "feeling": 9, "entry_date": "2020-01-01", "note": 12},
        str(uuid.uuid4()),
    )
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert fields["value"] == "Enter a number of minutes between 0 and 1440"
    assert set(fields) == {"value", "feeling", "entry_date", "note"}
    assert entries(demo) == before
    wrong = post_entry(alex, demo, {"value": "abc"}, str(uuid.uuid4()))
    assert wrong.status_code == 422
    assert wrong.get_json()["fields"] == {"value": "Enter a number of minutes, like 20"}


def test_malformed_bodies_are_4xx_not_500(demo):
    alex = demo.login(ALEX)
    url = f"/api/v1/patients/{demo.alex}/goals/{walk_id(demo)}/entries"
    headers = {"X-CSRFToken": alex.csrf(), "Idempotency-Key": str(uuid.uuid4())}
    not_json = alex.post(url, data="value=5", headers=headers)
    assert not_json.status_code == 415
    array = alex.post(url, json=[1, 2], headers=headers)
    assert array.status_code == 400 and array.get_json()["error"]


def test_csrf_is_required(demo):
    alex = demo.login(ALEX)
    url = f"/api/v1/patients/{demo.alex}/goals/{walk_id(demo)}/entries"
    body = {"value": 5, "note": "No token"}
    response = alex.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 400
    assert entries(demo, note="No token") == 0


def test_create_goal_and_propose(demo):
    alex = demo.login(ALEX)
    created = alex.api(
        "POST",
        f"/api/v1/patients/{demo.alex}/goals",
        json={"title": "Sleep by 11", "category": "sleep", "measure": "done", "share": True},
    )
    assert created.status_code == 201
    assert created.get_json()["status"] == "active"
    bad = alex.api("POST", f"/api/v1/patients/{demo.alex}/goals", json={"measure": "feet"})
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"title", "measure"}
    rivera = demo.login("rivera@example.com")
    proposed = rivera.api(
        "POST", f"/api/v1/patients/{demo.alex}/goals", json={"title": "Stretch daily"}
    )
    assert proposed.status_code == 201 and proposed.get_json()["status"] == "proposed"


def test_get_goal_with_entries(demo):
    alex = demo.login(ALEX)
    body = alex.get(f"/api/v1/patients/{demo.alex}/goals/{walk_id(demo)}").get_json()
    assert body["chart_summary"].startswith("In the last 14 days")
    assert len(body["entries"]) == 20
    assert body["entries"][0]["note"] == "Park and back before lunch."


def test_messages_round_trip_and_notify(demo):
    rivera = demo.login("rivera@example.com")
    url = f"/api/v1/patients/{demo.alex}/goals/{walk_id(demo)}/messages"
    posted = rivera.api("POST", url, json={"body": "Nice <b>work</b>"})
    assert posted.status_code == 201
    message = posted.get_json()
    assert message["author"]["role"] == "Primary care physician" and message["from_team"]
    assert message["body"] == "Nice <b>work</b>"  # plain text; pages escape it
    assert rivera.api("POST", url, json={"body": ""}).status_code == 422
    listed = demo.login(ALEX).get(url).get_json()["messages"]
    assert listed[-1]["id"] == message["id"]
    with demo.app.app_context():
        assert (
            db.session.scalar(select(Notification.user_id).where(Notification.kind == "goal_reply"))
            == demo.users[ALEX]
        )


def test_other_patients_goal_is_404(demo):
    alex = demo.login(ALEX)
    with demo.app.app_context():
        blakes = db.session.scalar(select(Goal.id).where(Goal.patient_id == demo.blake))
    # Alex's patient id with Blake's goal id: not found, not a hint.
    response = alex.get(f"/api/v1/patients/{demo.alex}/goals/{blakes}")
    assert response.status_code == 404 and response.get_json() == {
        "error": "We could not find that page."
    }


def test_openapi_documents_the_goal_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    base = "/patients/{patient_id}/goals"
    assert set(spec["paths"][base]) == {"get", "post"}
    assert set(spec["paths"][base + "/{goal_id}"]) == {"get"}
    assert set(spec["paths"][base + "/{goal_id}/messages"]) == {"get", "post"}
    entry = spec["paths"][base + "/{goal_id}/entries"]["post"]
    header = next(p for p in entry["parameters"] if p["name"] == "Idempotency-Key")
    assert header["required"] is True and header["in"] == "header"
    assert {"200", "201", "400", "409", "422"} <= set(entry["responses"])
    assert "EntryInput" in spec["components"]["schemas"]


def test_entry_for_a_goal_that_is_no_longer_active_is_refused_not_dropped(demo):
    """422 with a message: the offline queue keeps it visible (409 would mean 'stored')."""
    from portal.goals.models import GoalStatus

    goal = walk_id(demo)
    with demo.app.app_context():
        db.session.get(Goal, goal).status = GoalStatus.ON_HOLD
        db.session.commit()
    before = entries(demo)
    response = post_entry(demo.login(ALEX), demo, {"value": 20}, str(uuid.uuid4()))
    assert response.status_code == 422
    assert "not active" in response.get_json()["error"]
    assert entries(demo) == before


# -- bodies of the wrong shape: 4xx with a message per field, never a 500 ------------

BAD_ENTRIES = [
    ({"value": True}, "value", "Enter a number of minutes, like 20"),
    ({"value": [25]}, "value", "Enter a number of minutes, like 20"),
    ({"value": "٣٠"}, "value", "Enter a number of minutes, like 20"),  # Arabic-Indic digits
    ({"value": "1e999999999"}, "value", "Enter a number of minutes, like 20"),
    ({"value": 10**30}, "value", "Enter a number of minutes between 0 and 1440"),
    ({"value": 25, "feeling": "²"}, "feeling", "Choose how you feel from 1 to 5"),
    ({"value": 25, "feeling": 10**30}, "feeling", "Choose how you feel from 1 to 5"),
    ({"value": 25, "feeling": 2.5}, "feeling", "Choose how you feel from 1 to 5"),
    ({"value": 25, "done": "maybe"}, "done", "Answer true or false"),
    ({"value": 25, "note": {"text": "x"}}, "note", "Write this as text"),
    ({"value": 25, "note": "x" * 1001}, "note", "Keep this under 1000 characters"),
    ({"value": 25, "entry_date": "٢٠٢٦-01-01"}, "entry_date", "Enter the date like 2026-12-01"),
    ({"value": 25, "entry_date": 20260101}, "entry_date", "Enter the date like 2026-12-01"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_ENTRIES, ids=lambda v: str(v)[:30])
def test_entries_of_the_wrong_shape_are_422_with_a_message(demo, body, field, message):
    alex = demo.login(ALEX)
    before = entries(demo)
    response = post_entry(alex, demo, body, str(uuid.uuid4()))
    assert response.status_code == 422
    assert response.get_json()["fields"] == {field: message}
    assert entries(demo) == before


def test_shape_and_rule_problems_come_back_together(demo):
    """A wrong type (note) and a broken rule (the date) in one answer, not one at a time."""
    response = post_entry(
        demo.login(ALEX), demo, {"value": 25, "note": 7, "entry_date": "2020-01-01"}, "k" * 8
    )
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"note", "entry_date"}


@pytest.mark.parametrize(
    "raw",
    ['{"value": NaN}', '{"value": 1e400}', '{"value": ' + "9" * 5000 + "}", "[1]", "{", '"x"'],
)
def test_json_the_api_cannot_use_is_4xx(demo, raw):
    alex = demo.login(ALEX)
    response = alex.post(
        f"/api/v1/patients/{demo.alex}/goals/{walk_id(demo)}/entries",
        data=raw,
        content_type="application/json",
        headers={"X-CSRFToken": alex.csrf(), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code in (400, 422) and response.get_json()["error"]


def test_the_web_apps_text_numbers_still_work(demo):
    """The offline queue sends what the form holds: value and feeling as text."""
    response = post_entry(demo.login(ALEX), demo, {"value": "7,5", "feeling": "4"}, "t" * 8)
    assert response.status_code == 422  # minutes are whole: the rule, not the shape, says no
    assert response.get_json()["fields"] == {"value": "Enter a whole number of minutes, like 20"}
    stored = post_entry(
        demo.login(ALEX), demo, {"value": " 20 ", "feeling": "4", "note": ""}, "u" * 8
    )
    assert stored.status_code == 201 and stored.get_json()["value"] == 20


def test_unknown_fields_are_ignored(demo):
    response = post_entry(demo.login(ALEX), demo, {"value": 20, "mood": "great"}, "v" * 8)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title": "Write your goal in a few words, like Walk 20 minutes a day"}),
        (
            {"title": ["Walk"]},
            {"title": "Write your goal in a few words, like Walk 20 minutes a day"},
        ),
        (
            {"title": "Walk", "measure": "feet"},
            {
                "measure": "Choose one of 'done', 'steps', 'minutes', 'servings', "
                "'sleep_hours', 'mood', 'systolic_bp' or 'count'"
            },
        ),
        ({"title": "Walk", "frequency": 3}, {"frequency": "Choose one of 'daily' or 'weekly'"}),
        ({"title": "Walk", "share": "maybe"}, {"share": "Answer true or false"}),
        ({"title": "Walk", "due_on": "2020-01-01"}, {"due_on": "Choose a date from today onwards"}),
        (
            {"title": "Walk", "measure": "minutes", "target_value": "٣٠"},
            {"target_value": "Enter a number with the digits 0 to 9, like 20 or 7.5"},
        ),
    ],
)
def test_goals_of_the_wrong_shape_are_422_with_a_message(demo, body, fields):
    response = demo.login(ALEX).api("POST", f"/api/v1/patients/{demo.alex}/goals", json=body)
    assert response.status_code == 422
    assert response.get_json()["fields"] == fields


def test_a_message_without_a_body_says_so(demo):
    url = f"/api/v1/patients/{demo.alex}/goals/{walk_id(demo)}/messages"
    alex = demo.login(ALEX)
    missing = alex.api("POST", url, json={})
    assert missing.status_code == 422 and missing.get_json()["fields"] == {
        "body": "Write a message"
    }
    number = alex.api("POST", url, json={"body": 5})
    assert number.get_json()["fields"] == {"body": "Write a message"}


@pytest.mark.parametrize("big", [2**63, 10**30])
def test_ids_beyond_the_database_are_not_found(demo, big):
    alex = demo.login(ALEX)
    assert alex.get(f"/api/v1/patients/{big}/goals").status_code == 404
    assert alex.get(f"/api/v1/patients/{demo.alex}/goals/{big}").status_code == 404
