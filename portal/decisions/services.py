"""Decisions on the plan: open, lean, SURE, thread, record, CollaboRATE.

Services flush, audit and enqueue notices in the request's transaction; the
request commits (portal/web.py). They take the `Access` and never read the
request. Every check runs before the first write, so a refused change writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from portal import audit, notifications
from portal.access import Access, AccessDenied, Scope, care_team_of
from portal.careplan.models import CareTeamMember
from portal.db import utcnow
from portal.decisions import inputs
from portal.decisions.models import (
    CollaborateAnswer,
    Decision,
    DecisionLean,
    DecisionMessage,
    DecisionOption,
    DecisionStatus,
    SureAnswer,
)
from portal.extensions import db
from portal.goals.reading import patient_today
from portal.notifications.outbox import portal_path
from portal.notifications.services import activity_dedupe_key, patient_recipients

ALREADY_RATED = "These questions have already been answered for this decision."


class DecisionError(ValueError):
    """A decision operation that cannot be done now; the message is for people."""


def decision_path(patient_id: int, decision_id: int) -> str:
    """The decision's page, built without a request (notices use it too)."""
    return portal_path("decisions.detail", patient_id=patient_id, decision_id=decision_id)


def get_decision(access: Access, decision_id: int) -> Decision:
    """One decision of this patient that this access may see, else 404."""
    access.require(Scope.DECISIONS_READ)
    found = db.session.scalar(
        select(Decision).where(Decision.id == decision_id, *access.item_filter(Decision))
    )
    if found is None:
        raise NotFound()
    return found


def option_ids(decision_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(DecisionOption.id).where(DecisionOption.decision_id == decision_id)
        )
    )


def team_ids(patient_id: int) -> list[int]:
    """The care team now (who hears that a patient is not ready, or a date is near)."""
    return list(db.session.scalars(select(CareTeamMember.user_id).where(care_team_of(patient_id))))


def require_team(access: Access) -> None:
    access.require(Scope.DECISIONS_READ)
    access.require(Scope.PLAN_EDIT)


def _require_patient_side(access: Access) -> None:
    access.require(Scope.DECISIONS_WRITE)


def require_open(decision: Decision) -> None:
    if not decision.is_open:
        raise DecisionError(
            f"This decision is {decision.status.label.lower()}: it can't change now."
        )


def open_decision(access: Access, data: Mapping[str, Any]) -> Decision:
    """A clinician opens a decision with two or more options; the patient is told."""
    require_team(access)
    values = inputs.decision(data, patient_today(access))
    now = utcnow()
    decision = Decision(
        patient_id=access.patient_id,
        question=values.question,
        context=values.context,
        decide_by=values.decide_by,
        sensitivity=values.sensitivity,
        opened_by_id=access.actor_id,
        opened_by_name=access.actor_name,
        opened_at=now,
        updated_at=now,
    )
    db.session.add(decision)
    db.session.flush()
    db.session.add_all(
        DecisionOption(
            decision_id=decision.id,
            patient_id=access.patient_id,
            position=position,
            **vars(option),
        )
        for position, option in enumerate(values.options, start=1)
    )
    recipients = patient_recipients(access.patient_user_id, access.patient_id)
    if recipients:
        notifications.enqueue(
            "decision_opened",
            recipients,
            url=decision_path(access.patient_id, decision.id),
            patient_id=access.patient_id,
            dedupe_key=f"decision_opened:{decision.id}:{{user_id}}",
            now=now,
        )
    audit.record(access, "create", "decision", decision.id)
    return decision


def record_lean(access: Access, decision_id: int, data: Mapping[str, Any]) -> DecisionLean:
    """The patient says which way they lean (or that they are not sure yet), and why."""
    _require_patient_side(access)
    decision = get_decision(access, decision_id)
    require_open(decision)
    option_id, why = inputs.lean(data, option_ids(decision.id))
    lean = db.session.get(DecisionLean, decision.id)
    if lean is None:
        lean = DecisionLean(decision_id=decision.id, patient_id=access.patient_id)
        db.session.add(lean)
    lean.option_id, lean.why = option_id, why
    lean.by_id, lean.by_name, lean.at = access.actor_id, access.actor_name, utcnow()
    decision.updated_at = lean.at
    audit.record(access, "update", "decision_lean", decision.id)
    return lean


def answer_sure(access: Access, decision_id: int, data: Mapping[str, Any]) -> SureAnswer:
    """The patient answers SURE; fewer than four yes marks the decision not ready.

    The team hears once per decision and day that it became not ready.
    """
    _require_patient_side(access)
    decision = get_decision(access, decision_id)
    require_open(decision)
    answers = inputs.sure(data)
    now = utcnow()
    answer = SureAnswer(
        decision_id=decision.id,
        patient_id=access.patient_id,
        by_id=access.actor_id,
        by_name=access.actor_name,
        at=now,
        **answers,
    )
    db.session.add(answer)
    decision.ready = answer.score == len(inputs.SURE_ITEMS)
    decision.updated_at = now
    if not decision.ready:
        team = team_ids(access.patient_id)
        if team:
            notifications.enqueue(
                "decision_not_ready",
                team,
                url=decision_path(access.patient_id, decision.id),
                patient_id=access.patient_id,
                dedupe_key=f"decision_not_ready:{decision.id}:{{user_id}}:{now:%Y%m%d}",
                now=now,
            )
    db.session.flush()
    audit.record(access, "create", "decision_sure", answer.id)
    return answer


def _role(access: Access) -> str:
    if access.is_care_team:
        return access.team_role or "Care team"
    if access.is_self:
        return "Patient"
    return access.relation.value.replace("_", " ").capitalize()


def post_message(access: Access, decision_id: int, body: Any) -> DecisionMessage:
    """A question from the patient's side or an answer from the team, in the decision's thread."""
    if not (access.can(Scope.DECISIONS_WRITE) or access.can(Scope.PLAN_EDIT)):
        raise AccessDenied(Scope.DECISIONS_WRITE)
    decision = get_decision(access, decision_id)
    text = inputs.message(body)
    now = utcnow()
    message = DecisionMessage(
        decision_id=decision.id,
        patient_id=access.patient_id,
        author_id=access.actor_id,
        author_name=access.actor_name,
        author_role=_role(access),
        from_team=access.is_care_team,
        body=text,
        created_at=now,
    )
    db.session.add(message)
    url = decision_path(access.patient_id, decision.id) + "#thread"
    if access.is_care_team:
        others = [
            u
            for u in patient_recipients(access.patient_user_id, access.patient_id)
            if u != access.actor_id
        ]
        if others:
            notifications.enqueue("decision_reply", others, url=url, patient_id=access.patient_id)
    else:
        team = team_ids(access.patient_id)
        if team:
            notifications.enqueue(
                "patient_activity",
                team,
                url=url,
                patient_id=access.patient_id,
                dedupe_key=activity_dedupe_key(access.patient_id, now),
                now=now,
            )
    db.session.flush()
    audit.record(access, "create", "decision_message", message.id)
    return message


def answer_collaborate(
    access: Access, decision_id: int, data: Mapping[str, Any]
) -> CollaborateAnswer:
    """After the decision, the patient rates the team's effort (CollaboRATE), once."""
    _require_patient_side(access)
    decision = get_decision(access, decision_id)
    if decision.status is not DecisionStatus.DECIDED:
        raise DecisionError("You can answer these questions once the decision has been made.")
    scores = inputs.collaborate(data)
    taken = db.session.scalar(
        select(CollaborateAnswer.id).where(CollaborateAnswer.decision_id == decision.id)
    )
    if taken is not None:
        raise DecisionError(ALREADY_RATED)
    answer = CollaborateAnswer(
        decision_id=decision.id,
        patient_id=access.patient_id,
        by_id=access.actor_id,
        by_relation=access.relation.value,
        at=utcnow(),
        **scores,
    )
    try:
        with db.session.begin_nested():  # two answers sent at once: the second one is told
            db.session.add(answer)
    except IntegrityError:
        raise DecisionError(ALREADY_RATED) from None
    audit.record(access, "create", "collaborate_answer", answer.id)
    return answer
