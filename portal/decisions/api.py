"""JSON API for decisions: list, read, lean, SURE, CollaboRATE (the same services as the pages).

Routes are added to the API blueprint (`portal.api.blueprint.bp`) when this
module is imported, which `portal.decisions.views` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import jsonify

import portal.decisions.api_models as m
from portal.access import Access, Scope, patient_view
from portal.api.blueprint import ApiError, body, bp
from portal.api.openapi import operation
from portal.decisions import inputs, reading, services
from portal.decisions.inputs import Invalid
from portal.decisions.models import CollaborateAnswer, DecisionLean, SureAnswer

BASE = "/patients/<int:patient_id>/decisions"
ONE = BASE + "/<int:decision_id>"
TAGS = ("decisions",)


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(row: Any, patient_id: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "question": row.question,
        "status": row.status.value,
        "decide_by": _when(row.decide_by),
        "ready": row.ready,
        "sensitive": row.sensitivity is not None,
        "sensitivity": row.sensitivity.value if row.sensitivity else None,
        "url": services.decision_path(patient_id, row.id),
    }


def lean_json(lean: DecisionLean) -> dict[str, Any]:
    return {"option_id": lean.option_id, "why": lean.why, "by": lean.by_name, "at": _when(lean.at)}


def sure_json(answer: SureAnswer) -> dict[str, Any]:
    return {
        **{name: getattr(answer, name) for name in inputs.SURE_ITEMS},
        "score": answer.score,
        "ready": answer.score == len(inputs.SURE_ITEMS),
        "at": _when(answer.at),
    }


def collaborate_json(answer: CollaborateAnswer) -> dict[str, Any]:
    return {
        **{name: getattr(answer, name) for name in inputs.COLLABORATE_ITEMS},
        "top_score": answer.top_score,
        "at": _when(answer.at),
    }


def _page_json(page: reading.DecisionPage) -> dict[str, Any]:
    decision = page.decision
    chosen = page.chosen
    found = {
        **_summary(decision, decision.patient_id),
        "chosen_option": chosen.title if chosen else None,
        "context": decision.context,
        "opened_by": decision.opened_by_name,
        "opened_at": _when(decision.opened_at),
        "options": [
            {
                "id": o.id,
                "position": o.position,
                **{name: getattr(o, name) for name in inputs.OPTION_FIELDS},
                "chosen": o.chosen,
            }
            for o in page.options
        ],
        "lean": lean_json(page.lean) if page.lean else None,
        "sure_answers": sure_json(page.sure) if page.sure else None,
        "outcome": None,
        "collaborate_answered": page.collaborate is not None,
    }
    if decision.decided_at is not None:
        found["outcome"] = {
            "decided_at": _when(decision.decided_at),
            "decided_by": decision.decided_by_name,
            "participants": [p.name for p in page.participants],
            "revisit_on": _when(decision.revisit_on),
            "note": decision.outcome_note,
            "goal_id": decision.goal_id,
            "activity_id": decision.activity_id,
        }
    return found


def _run(action: Callable[[], Any]) -> Any:
    """A service call whose input and state problems become 422 and 409 answers."""
    try:
        return action()
    except Invalid as error:
        raise ApiError(422, error.message, error.fields) from None
    except services.DecisionError as error:
        raise ApiError(409, str(error)) from None


def _rules(check: Callable[[Mapping[str, Any]], Any]):
    def rules(data: Mapping[str, Any]) -> dict[str, str]:
        try:
            check(data)
        except Invalid as error:
            return error.fields
        return {}

    return rules


@bp.get(BASE)
@operation("List the patient's decisions", ok={200: (m.DecisionList, "Decisions")}, tags=TAGS)
@patient_view(Scope.DECISIONS_READ)
def decisions_list(access: Access):
    rows = reading.list_decisions(access)
    return jsonify(
        {
            "decisions": [
                {**_summary(row, access.patient_id), "chosen_option": row.chosen_title}
                for row in rows
            ]
        }
    )


@bp.get(ONE)
@operation(
    "One decision: options, the patient's lean, the latest SURE answers, the outcome",
    ok={200: (m.Decision, "The decision")},
    tags=TAGS,
)
@patient_view(Scope.DECISIONS_READ)
def decisions_get(access: Access, decision_id: int):
    return jsonify(_page_json(reading.load_page(access, decision_id)))


@bp.post(ONE + "/lean")
@operation(
    "Say which way the patient leans, and why (replaces the previous lean)",
    body=m.LeanInput,
    ok={200: (m.Lean, "Saved")},
    errors=(409,),
    description="409 when the decision is no longer open.",
    tags=TAGS,
)
@patient_view(Scope.DECISIONS_WRITE)
def decisions_lean(access: Access, decision_id: int):
    data = body(m.LeanInput)  # which options exist is the service's check
    lean = _run(lambda: services.record_lean(access, decision_id, data))
    return jsonify(lean_json(lean))


@bp.post(ONE + "/sure")
@operation(
    "Answer the four SURE questions; fewer than four yes marks the decision not ready",
    body=m.SureInput,
    ok={201: (m.Sure, "Saved")},
    errors=(409,),
    description="409 when the decision is no longer open. Every answer is kept.",
    tags=TAGS,
)
@patient_view(Scope.DECISIONS_WRITE)
def decisions_sure(access: Access, decision_id: int):
    data = body(m.SureInput, _rules(inputs.sure))
    answer = _run(lambda: services.answer_sure(access, decision_id, data))
    return jsonify(sure_json(answer)), 201


@bp.post(ONE + "/collaborate")
@operation(
    "Answer CollaboRATE about the team's effort, once, after the decision",
    body=m.CollaborateInput,
    ok={201: (m.Collaborate, "Saved")},
    errors=(409,),
    description="409 before the decision is recorded, or when already answered.",
    tags=TAGS,
)
@patient_view(Scope.DECISIONS_WRITE)
def decisions_collaborate(access: Access, decision_id: int):
    data = body(m.CollaborateInput, _rules(inputs.collaborate))
    answer = _run(lambda: services.answer_collaborate(access, decision_id, data))
    return jsonify(collaborate_json(answer)), 201
