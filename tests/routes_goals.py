"""Access matrix rows for goals, progress entries, threads, the inbox and the goals API."""

from sqlalchemy import select

from portal.extensions import db
from portal.goals.models import Goal, GoalStatus, ProgressEntry
from tests.matrix import HIDDEN, LOGIN, Case, patient_page

SELF_ONLY = patient_page(team=403)  # the patient's own words and log: the team may not
SELF_ONLY_DONE = patient_page(patient=303, team=403)
TEAM_ONLY_DONE = patient_page(patient=403, team=303)
BOTH_DONE = patient_page(patient=303, team=303)
API = {"anonymous": 401, "patient": 200, "other_patient": HIDDEN, "team": 200, "off_team": HIDDEN}
API_CREATED = {**API, "patient": 201, "team": 201}


def _goal_id(demo, **where) -> int:
    with demo.app.app_context():
        query = select(Goal.id).where(Goal.patient_id == demo.alex).order_by(Goal.id)
        for name, value in where.items():
            query = query.where(getattr(Goal, name) == value)
        return db.session.scalar(query)


def walk(demo) -> int:
    return _goal_id(demo, measure="minutes")


def proposal(demo) -> int:
    return _goal_id(demo, status=GoalStatus.PROPOSED)


def goal_args(pick=walk):
    return lambda demo: {"patient_id": demo.alex, "goal_id": pick(demo)}


def newest_entry(demo) -> dict:
    """Alex's newest walk entry: logged today, so still open to change."""
    goal_id = walk(demo)
    with demo.app.app_context():
        entry_id = db.session.scalar(
            select(ProgressEntry.id)
            .where(ProgressEntry.goal_id == goal_id)
            .order_by(ProgressEntry.created_at.desc())
        )
    return {"patient_id": demo.alex, "goal_id": goal_id, "entry_id": entry_id}


def goal_form(demo) -> dict:
    return {
        "title": "Stretch after breakfast",
        "category": "physical_activity",
        "measure": "done",
        "frequency": "daily",
    }


def entry_form(demo) -> dict:
    return {"value": "20", "idempotency_key": "matrix-entry-0001", "note": "Matrix walk"}


ROUTES = [
    Case("goals.index", patient_page()),
    Case("goals.new", patient_page()),
    Case("goals.new", BOTH_DONE, method="POST", form=goal_form),
    Case("goals.detail", patient_page(), args=goal_args()),
    Case("goals.detail", patient_page(), args=goal_args(proposal), id="GET proposed goal"),
    Case("goals.edit", SELF_ONLY, args=goal_args()),
    Case(
        "goals.edit",
        SELF_ONLY_DONE,
        method="POST",
        args=goal_args(),
        form=lambda demo: {**goal_form(demo), "measure": "minutes", "target_value": "30"},
    ),
    Case("goals.answer", SELF_ONLY, args=goal_args(proposal)),
    Case(
        "goals.answer",
        SELF_ONLY_DONE,
        method="POST",
        args=goal_args(proposal),
        form=lambda demo: {
            "title": "Call my sister on Sundays",
            "category": "social",
            "measure": "done",
            "frequency": "weekly",
            "target_value": "1",
        },
    ),
    Case("goals.decline", SELF_ONLY_DONE, method="POST", args=goal_args(proposal)),
    Case("goals.share", SELF_ONLY_DONE, method="POST", args=goal_args()),
    Case(
        "goals.review",
        TEAM_ONLY_DONE,
        method="POST",
        args=goal_args(),
        form=lambda demo: {"status": "active", "note": "Going well"},
    ),
    Case("goals.add_entry", SELF_ONLY_DONE, method="POST", args=goal_args(), form=entry_form),
    Case("goals.edit_entry", SELF_ONLY, args=newest_entry),
    Case(
        "goals.edit_entry",
        SELF_ONLY_DONE,
        method="POST",
        args=newest_entry,
        form=lambda demo: {"value": "31", "entry_date": ""},
    ),
    Case("goals.delete_entry", SELF_ONLY_DONE, method="POST", args=newest_entry),
    Case(
        "goals.post_message",
        BOTH_DONE,
        method="POST",
        args=goal_args(),
        form=lambda demo: {"body": "Matrix message"},
    ),
    Case(
        "clinic.inbox",
        {
            "anonymous": LOGIN,
            "patient": HIDDEN,
            "other_patient": HIDDEN,
            "team": 200,
            "off_team": 200,
        },
        args=lambda demo: {},
    ),
    Case("api.goals_list", API),
    Case("api.goals_create", API_CREATED, method="POST", json=goal_form),
    Case("api.goals_get", API, args=goal_args()),
    Case(
        "api.goals_add_entry",
        {**API, "patient": 201, "team": 403},
        method="POST",
        args=goal_args(),
        json=lambda demo: {"value": 25, "note": "From the app"},
        headers={"Idempotency-Key": "0b6a3a56-6f57-4a5e-9f0e-8c1f2d3e4a5b"},
    ),
    Case("api.goals_list_messages", API, args=goal_args()),
    Case(
        "api.goals_post_message",
        API_CREATED,
        method="POST",
        args=goal_args(),
        json=lambda demo: {"body": "Hello from the app"},
    ),
]
