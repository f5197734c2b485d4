"""JSON API for goals, progress entries and goal threads (the same services as the pages)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import jsonify, request, url_for

from portal.access import Access, Scope, patient_view
from portal.api import ApiError, bp, document, error_responses, json_body, schema
from portal.goals import entries, lifecycle, reading, threads
from portal.goals.inputs import Invalid, idempotency_key
from portal.goals.measures import measure_for
from portal.goals.models import Goal, GoalMessage, ProgressEntry

BASE = "/patients/{patient_id}/goals"


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


def goal_json(goal: Goal, people: dict[int, str], card: reading.GoalCard | None = None):
    measure = measure_for(goal.measure)
    body: dict[str, Any] = {
        "id": goal.id,
        "patient_id": goal.patient_id,
        "title": goal.title,
        "why": goal.why,
        "category": goal.category.value,
        "measure": goal.measure,
        "numeric": measure.numeric,
        "unit": measure.unit,
        "target_value": _number(goal.target_value),
        "frequency": goal.frequency.value,
        "due_on": _when(goal.due_on),
        "status": goal.status.value,
        "achievement": goal.achievement.value,
        "sensitive": goal.sensitive,
        "shared_with_team": goal.shared_with_team,
        "proposed_by": _person(goal.proposed_by_id, people),
        "agreed_by": _person(goal.agreed_by_id, people),
        "agreed_at": _when(goal.agreed_at),
        "url": url_for("goals.detail", patient_id=goal.patient_id, goal_id=goal.id),
    }
    if card is not None:
        body["progress"] = _progress_json(card.progress)
        body["unread_messages"] = card.unread
    return body


def _person(user_id: int | None, people: dict[int, str]):
    if user_id is None:
        return None
    return {"id": user_id, "name": people.get(user_id, "A former team member")}


def _progress_json(prog) -> dict[str, Any]:
    return {
        "this_week": prog.week_text,
        "week_met": prog.week_met,
        "week_goal": prog.week_goal,
        "streak": prog.streak,
        "streak_unit": prog.streak_unit,
        "logged_today": prog.logged_today is not None,
    }


def entry_json(entry: ProgressEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "goal_id": entry.goal_id,
        "entry_date": entry.entry_date.isoformat(),
        "value": _number(entry.value),
        "done": entry.done,
        "note": entry.note,
        "feeling": entry.feeling,
        "idempotency_key": entry.idempotency_key,
        "created_at": _when(entry.created_at),
        "updated_at": _when(entry.updated_at),
        "deleted": entry.deleted,
    }


def message_json(message: GoalMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "goal_id": message.goal_id,
        "author": {
            "id": message.author_id,
            "name": message.author_name,
            "role": message.author_role,
        },
        "from_team": message.from_team,
        "body": message.body,
        "created_at": _when(message.created_at),
    }


def _invalid(error: Invalid) -> ApiError:
    return ApiError(422, error.message, error.fields)


@bp.get("/patients/<int:patient_id>/goals")
@patient_view(Scope.GOALS_READ)
def goals_list(access: Access):
    goals = reading.list_goals(access)
    return jsonify(
        {
            "today": goals.today.isoformat(),
            "goals": [goal_json(c.goal, goals.people, c) for c in goals.cards],
        }
    )


@bp.post("/patients/<int:patient_id>/goals")
@patient_view(Scope.GOALS_READ)
def goals_create(access: Access):
    data = json_body()
    try:
        goal = lifecycle.create_goal(access, data)
    except Invalid as error:
        raise _invalid(error) from None
    people = {access.actor_id: access.actor_name}
    return jsonify(goal_json(goal, people)), 201


@bp.get("/patients/<int:patient_id>/goals/<int:goal_id>")
@patient_view(Scope.GOALS_READ)
def goals_get(access: Access, goal_id: int):
    page = reading.load_goal_page(access, goal_id, mark_read=False)
    card = reading.GoalCard(page.goal, page.measure, page.progress)
    body = goal_json(page.goal, page.people, card)
    body["chart_summary"] = page.chart.summary
    body["entries"] = [entry_json(e) for e in page.entries]
    return jsonify(body)


@bp.post("/patients/<int:patient_id>/goals/<int:goal_id>/entries")
@patient_view(Scope.GOALS_LOG)
def goals_add_entry(access: Access, goal_id: int):
    raw_key = request.headers.get("Idempotency-Key")
    if not raw_key:
        raise ApiError(
            400,
            "Send an Idempotency-Key header (a UUID) with each entry.",
            {"Idempotency-Key": "Required"},
        )
    try:
        key = idempotency_key(raw_key)
    except Invalid as error:
        raise ApiError(400, error.message, {"Idempotency-Key": "Use a UUID"}) from None
    data = json_body()
    try:
        entry, created = entries.add_entry(access, goal_id, data, key)
    except entries.IdempotencyConflict as error:
        raise ApiError(409, str(error)) from None
    except Invalid as error:
        raise _invalid(error) from None
    except lifecycle.GoalError as error:
        # 422, not 409: the web app's offline queue reads 409 as "already stored"
        # and would silently drop an entry for a goal that was stopped meanwhile.
        raise ApiError(422, str(error)) from None
    return jsonify(entry_json(entry)), 201 if created else 200


@bp.get("/patients/<int:patient_id>/goals/<int:goal_id>/messages")
@patient_view(Scope.MESSAGES)
def goals_list_messages(access: Access, goal_id: int):
    messages = threads.list_messages(access, goal_id)
    return jsonify({"messages": [message_json(m) for m in messages]})


@bp.post("/patients/<int:patient_id>/goals/<int:goal_id>/messages")
@patient_view(Scope.MESSAGES)
def goals_post_message(access: Access, goal_id: int):
    data = json_body()
    try:
        message = threads.post_message(access, goal_id, data.get("body"))
    except Invalid as error:
        raise _invalid(error) from None
    return jsonify(message_json(message)), 201


# -- OpenAPI -------------------------------------------------------------------

_PATIENT = {"name": "patient_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_GOAL = {"name": "goal_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_NULL_NUMBER = {"type": ["number", "null"]}
_NULL_STRING = {"type": ["string", "null"]}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _list(key: str, ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        key: {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}
                    },
                }
            }
        },
    }


schema(
    "Goal",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "patient_id": {"type": "integer"},
            "title": {"type": "string"},
            "why": {"type": "string"},
            "category": {"type": "string"},
            "measure": {"type": "string", "description": "done, steps, minutes, servings, ..."},
            "numeric": {"type": "boolean", "description": "Logged as a number (else done)."},
            "unit": {"type": "string"},
            "target_value": _NULL_NUMBER,
            "frequency": {"enum": ["daily", "weekly"]},
            "due_on": {"type": ["string", "null"], "format": "date"},
            "status": {"enum": ["proposed", "active", "on_hold", "completed", "cancelled"]},
            "achievement": {"type": "string"},
            "proposed_by": {"type": ["object", "null"]},
            "agreed_by": {"type": ["object", "null"]},
            "progress": {"type": "object", "description": "This week, streak, logged today."},
            "url": {"type": "string", "description": "The goal's page in the portal."},
        },
    },
)
schema(
    "GoalInput",
    {
        "type": "object",
        "required": ["title"],
        "description": "A patient creates their own goal (active); a clinician on the care "
        "team proposes one (proposed) for the patient to answer.",
        "properties": {
            "title": {"type": "string", "maxLength": 200},
            "why": {"type": "string", "maxLength": 2000},
            "category": {"type": "string"},
            "measure": {"type": "string"},
            "target_value": _NULL_NUMBER,
            "frequency": {"enum": ["daily", "weekly"]},
            "due_on": {"type": ["string", "null"], "format": "date"},
            "share": {"type": "boolean", "description": "Ask the care team for their input."},
        },
    },
)
schema(
    "Entry",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "goal_id": {"type": "integer"},
            "entry_date": {"type": "string", "format": "date"},
            "value": _NULL_NUMBER,
            "done": {"type": ["boolean", "null"]},
            "note": {"type": "string"},
            "feeling": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "idempotency_key": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "deleted": {"type": "boolean"},
        },
    },
)
schema(
    "EntryInput",
    {
        "type": "object",
        "properties": {
            "value": {**_NULL_NUMBER, "description": "Required for goals measured by a number."},
            "done": {"type": ["boolean", "null"], "description": "Required for done goals."},
            "note": {**_NULL_STRING, "maxLength": 1000},
            "feeling": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "entry_date": {
                "type": ["string", "null"],
                "format": "date",
                "description": "Default: today in the patient's time zone; up to 30 days back.",
            },
        },
    },
)
schema(
    "Message",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "goal_id": {"type": "integer"},
            "author": {"type": "object"},
            "from_team": {"type": "boolean"},
            "body": {"type": "string", "description": "Plain text; render escaped."},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
)

document(
    BASE,
    "get",
    {
        "summary": "List the patient's goals with this week's progress",
        "parameters": [_PATIENT],
        "responses": {"200": _list("goals", "Goal", "Goals"), **error_responses(401, 403, 404)},
    },
)
document(
    BASE,
    "post",
    {
        "summary": "Create a goal (patient) or propose one (care team)",
        "parameters": [_PATIENT],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GoalInput"}}},
        },
        "responses": {
            "201": _json("Goal", "Created"),
            **error_responses(400, 401, 403, 404, 415, 422),
        },
    },
)
document(
    BASE + "/{goal_id}",
    "get",
    {
        "summary": "One goal with progress, a chart summary and recent entries",
        "parameters": [_PATIENT, _GOAL],
        "responses": {"200": _json("Goal", "The goal"), **error_responses(401, 403, 404)},
    },
)
document(
    BASE + "/{goal_id}/entries",
    "post",
    {
        "summary": "Log progress, stored once per Idempotency-Key",
        "description": "Sending the same Idempotency-Key again with the same body returns "
        "the stored entry with 200. The same key with a different body, or for another "
        "goal, is refused with 409. Logging on a goal that is not active is 422.",
        "parameters": [
            _PATIENT,
            _GOAL,
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                "description": "A UUID made by the client for this entry.",
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EntryInput"}}
            },
        },
        "responses": {
            "201": _json("Entry", "Stored"),
            "200": _json("Entry", "Already stored with this key"),
            **error_responses(400, 401, 403, 404, 409, 415, 422),
        },
    },
)
document(
    BASE + "/{goal_id}/messages",
    "get",
    {
        "summary": "The goal's thread, oldest first (marks it read for the caller)",
        "parameters": [_PATIENT, _GOAL],
        "responses": {
            "200": _list("messages", "Message", "Messages"),
            **error_responses(401, 403, 404),
        },
    },
)
document(
    BASE + "/{goal_id}/messages",
    "post",
    {
        "summary": "Post a message to the goal's thread",
        "parameters": [_PATIENT, _GOAL],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["body"],
                        "properties": {"body": {"type": "string", "maxLength": 2000}},
                    }
                }
            },
        },
        "responses": {
            "201": _json("Message", "Posted"),
            **error_responses(400, 401, 403, 404, 415, 422),
        },
    },
)
