"""JSON API for goals, progress entries and goal threads (the same services as the pages)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask import jsonify, request, url_for

import portal.api.goal_models as m
from portal.access import Access, Scope, patient_view
from portal.api.blueprint import ApiError, body, bp
from portal.api.openapi import operation
from portal.goals import entries, inputs, lifecycle, reading, threads
from portal.goals.inputs import Invalid
from portal.goals.measures import measure_for
from portal.goals.models import Goal, GoalMessage, ProgressEntry

BASE = "/patients/<int:patient_id>/goals"
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "pattern": inputs.IDEMPOTENCY_KEY.pattern},
    "description": "A UUID made by the client for this entry.",
}


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


def goal_json(goal: Goal, people: dict[int, str], card: reading.GoalCard | None = None):
    """A goal as `m.Goal`, or `m.GoalWithProgress` when its card is given."""
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


def entry_json(entry: ProgressEntry | entries.StoredEntry) -> dict[str, Any]:
    """An entry as `m.Entry`."""
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
    """A thread message as `m.Message`."""
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


def _problems(check) -> dict[str, str]:
    """The domain rules' messages for the fields a check finds wrong (none: {})."""
    try:
        check()
    except Invalid as error:
        return error.fields
    return {}


def _invalid(error: Invalid) -> ApiError:
    return ApiError(422, error.message, error.fields)


@bp.get(BASE)
@operation("List the patient's goals with this week's progress", ok={200: (m.GoalList, "Goals")})
@patient_view(Scope.GOALS_READ)
def goals_list(access: Access):
    goals = reading.list_goals(access)
    return jsonify(
        {
            "today": goals.today.isoformat(),
            "goals": [goal_json(c.goal, goals.people, c) for c in goals.cards],
        }
    )


@bp.post(BASE)
@operation(
    "Create a goal (patient) or propose one (care team)",
    body=m.GoalInput,
    ok={201: (m.Goal, "Created")},
)
@patient_view(Scope.GOALS_READ)
def goals_create(access: Access):
    def rules(data: Mapping[str, Any]) -> dict[str, str]:
        return _problems(lambda: inputs.goal(data, reading.patient_today(access)))

    data = body(m.GoalInput, rules)
    try:
        goal = lifecycle.create_goal(access, data)
    except Invalid as error:
        raise _invalid(error) from None
    people = {access.actor_id: access.actor_name}
    return jsonify(goal_json(goal, people)), 201


@bp.get(BASE + "/<int:goal_id>")
@operation(
    "One goal with progress, a chart summary and recent entries",
    ok={200: (m.GoalDetail, "The goal")},
)
@patient_view(Scope.GOALS_READ)
def goals_get(access: Access, goal_id: int):
    page = reading.load_goal_page(access, goal_id, mark_read=False)
    card = reading.GoalCard(page.goal, page.measure, page.progress)
    detail = goal_json(page.goal, page.people, card)
    detail["chart_summary"] = page.chart.summary
    detail["entries"] = [entry_json(e) for e in page.entries]
    return jsonify(detail)


def _idempotency_key() -> str:
    raw_key = request.headers.get("Idempotency-Key")
    if not raw_key:
        raise ApiError(
            400,
            "Send an Idempotency-Key header (a UUID) with each entry.",
            {"Idempotency-Key": "Required"},
        )
    try:
        return inputs.idempotency_key(raw_key)
    except Invalid as error:
        raise ApiError(400, error.message, {"Idempotency-Key": "Use a UUID"}) from None


@bp.post(BASE + "/<int:goal_id>/entries")
@operation(
    "Log progress, stored once per Idempotency-Key",
    description="Sending the same Idempotency-Key again with the same body returns "
    "the stored entry with 200. The same key with a different body, or for another "
    "goal, is refused with 409. Logging on a goal that is not active is 422.",
    headers=(IDEMPOTENCY_KEY,),
    body=m.EntryInput,
    ok={201: (m.Entry, "Stored"), 200: (m.Entry, "Already stored with this key")},
    errors=(409,),
)
@patient_view(Scope.GOALS_LOG)
def goals_add_entry(access: Access, goal_id: int):
    key = _idempotency_key()

    def rules(data: Mapping[str, Any]) -> dict[str, str]:
        goal = reading.get_goal(access, goal_id)
        today = reading.patient_today(access)
        return _problems(lambda: inputs.entry(measure_for(goal.measure), data, today))

    data = body(m.EntryInput, rules)
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


@bp.get(BASE + "/<int:goal_id>/messages")
@operation(
    "The goal's thread, oldest first (marks it read for the caller)",
    ok={200: (m.MessageList, "Messages")},
)
@patient_view(Scope.MESSAGES)
def goals_list_messages(access: Access, goal_id: int):
    messages = threads.list_messages(access, goal_id)
    return jsonify({"messages": [message_json(message) for message in messages]})


@bp.post(BASE + "/<int:goal_id>/messages")
@operation(
    "Post a message to the goal's thread",
    body=m.MessageInput,
    ok={201: (m.Message, "Posted")},
)
@patient_view(Scope.MESSAGES)
def goals_post_message(access: Access, goal_id: int):
    data = body(m.MessageInput, lambda data: _problems(lambda: inputs.message(data.get("body"))))
    try:
        message = threads.post_message(access, goal_id, data.get("body"))
    except Invalid as error:
        raise _invalid(error) from None
    return jsonify(message_json(message)), 201
