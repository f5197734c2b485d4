"""The team records a decision (option, who took part, when to revisit) or withdraws it.

Recording goes into the plan's history (`record_revision`) and, when asked,
puts the chosen option on the plan as an activity or a suggested goal, linked
from the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, case, func, literal, select, union_all

from portal import audit
from portal.access import Access, active_grant, care_team_of
from portal.auth.models import Discipline, User
from portal.caregivers.models import Grant
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
from portal.decisions.preferences_models import PreferencePerson
from portal.decisions.services import get_decision, require_open, require_team
from portal.extensions import db
from portal.goals import lifecycle
from portal.goals.reading import patient_today


@dataclass(frozen=True)
class Person:
    """Someone who may have taken part: the patient, a team member now, or a caregiver."""

    user_id: int
    name: str
    role: str
    from_team: bool


def people(access: Access) -> list[Person]:
    """Who may be recorded as taking part (one query, however many people).

    The patient; the care team now, lead first; then the caregivers the patient
    chose to involve in decisions whose grant runs now (a revoked or ended grant
    is the patient's word that they no longer act for them).
    """
    pid = access.patient_id
    team = (
        select(
            CareTeamMember.user_id.label("user_id"),
            User.name.label("name"),
            CareTeamMember.role.label("role"),
            case((CareTeamMember.is_lead, 0), else_=1).label("rank"),
        )
        .join(User, User.id == CareTeamMember.user_id)
        .where(care_team_of(pid))
    )
    caregivers = (
        select(
            Grant.caregiver_id,
            User.name,
            (literal("Caregiver, ", String) + func.lower(Grant.relationship)).label("role"),
            literal(2),
        )
        .select_from(PreferencePerson)
        .join(
            Grant,
            and_(
                Grant.id == PreferencePerson.caregiver_grant_id,
                active_grant(pid, Grant.caregiver_id, utcnow()),
            ),
        )
        .join(User, User.id == Grant.caregiver_id)
        .where(PreferencePerson.patient_id == pid)
    )
    both = union_all(team, caregivers).subquery()
    rows = db.session.execute(select(both).order_by(both.c.rank, both.c.name, both.c.user_id))
    found = []
    if access.patient_user_id is not None:
        found.append(Person(access.patient_user_id, access.patient_name, "Patient", False))
    seen = {p.user_id for p in found}
    for row in rows:
        if row.user_id not in seen:  # someone on the team who also helps: once, as team
            seen.add(row.user_id)
            found.append(Person(row.user_id, row.name, row.role, row.rank < 2))
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
