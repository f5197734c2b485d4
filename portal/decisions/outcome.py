"""The team records a decision (option, who took part, when to revisit) or withdraws it.

Recording goes into the plan's history (`record_revision`) and, when asked,
puts the chosen option on the plan as an activity or a suggested goal, linked
from the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal import audit
from portal.access import Access, care_team_of
from portal.auth.models import Discipline, User
from portal.careplan import services as plan
from portal.careplan.models import ActivityStatus, Assignee, CareTeamMember
from portal.db import utcnow
from portal.decisions import inputs
from portal.decisions.models import (
    Decision,
    DecisionOption,
    DecisionParticipant,
    DecisionStatus,
)
from portal.decisions.services import get_decision, require_open, require_team
from portal.extensions import db
from portal.goals import lifecycle
from portal.goals.reading import patient_today


@dataclass(frozen=True)
class Person:
    """Someone who may have taken part: a team member now, or the patient."""

    user_id: int
    name: str
    role: str
    from_team: bool


def people(access: Access) -> list[Person]:
    """Who may be recorded as taking part: the patient and the care team now (one query)."""
    rows = db.session.execute(
        select(CareTeamMember.user_id, User.name, CareTeamMember.role)
        .join(User, User.id == CareTeamMember.user_id)
        .where(care_team_of(access.patient_id))
        .order_by(CareTeamMember.is_lead.desc(), User.name)
    ).all()
    found = []
    if access.patient_user_id is not None:
        found.append(Person(access.patient_user_id, access.patient_name, "Patient", False))
    found += [Person(r.user_id, r.name, r.role, True) for r in rows]
    return found


def record_outcome(access: Access, decision_id: int, data: Mapping[str, Any]) -> Decision:
    """Record the option chosen, who took part and when to revisit; it joins the plan's history."""
    require_team(access)
    decision = get_decision(access, decision_id)
    require_open(decision)
    options = list(
        db.session.scalars(select(DecisionOption).where(DecisionOption.decision_id == decision.id))
    )
    candidates = people(access)
    values = inputs.outcome(
        data, [o.id for o in options], [p.user_id for p in candidates], patient_today(access)
    )
    chosen = next(o for o in options if o.id == values.option_id)
    now = utcnow()
    _link_to_plan(access, decision, chosen, values.plan_link)  # checks its input before writing
    chosen.chosen = True
    by_id = {p.user_id: p for p in candidates}
    db.session.add_all(
        DecisionParticipant(
            decision_id=decision.id,
            patient_id=access.patient_id,
            user_id=uid,
            name=by_id[uid].name,
            role=by_id[uid].role,
            from_team=by_id[uid].from_team,
        )
        for uid in values.participant_ids
    )
    decision.status = DecisionStatus.DECIDED
    decision.decided_at = decision.updated_at = now
    decision.decided_by_id, decision.decided_by_name = access.actor_id, access.actor_name
    decision.revisit_on, decision.outcome_note = values.revisit_on, values.note
    plan.record_revision(
        access,
        "decision",
        decision.id,
        "decided",
        f"Decided “{decision.question}”: {chosen.title}",
        {"option": [None, chosen.title]},
        sensitive=decision.sensitive,
    )
    audit.record(access, "decide", "decision", decision.id)
    return decision


def _link_to_plan(access: Access, decision: Decision, chosen: DecisionOption, link: str) -> None:
    """Put the chosen option on the plan as an activity or a suggested goal, and link it."""
    if link == "activity":
        discipline = db.session.scalar(
            select(CareTeamMember.discipline).where(
                care_team_of(access.patient_id), CareTeamMember.user_id == access.actor_id
            )
        )
        item = plan.add_item(
            access,
            "activity",
            {
                "title": chosen.title[:200],
                "detail": chosen.involves,
                "discipline": discipline or Discipline.PRIMARY_CARE,
                "assignee": Assignee.PATIENT,
                "status": ActivityStatus.PLANNED,
                "sensitivity": decision.sensitivity,
            },
        )
        decision.activity_id = item.id
    elif link == "goal":
        goal = lifecycle.create_goal(
            access,
            {"title": chosen.title[:200], "why": chosen.benefits[:2000], "measure": "done"},
        )
        goal.sensitivity = decision.sensitivity
        decision.goal_id = goal.id


def withdraw(access: Access, decision_id: int) -> Decision:
    """Take an open decision off the plan (it stays, marked withdrawn)."""
    require_team(access)
    decision = get_decision(access, decision_id)
    require_open(decision)
    decision.status, decision.updated_at = DecisionStatus.WITHDRAWN, utcnow()
    audit.record(access, "withdraw", "decision", decision.id)
    return decision
