"""Reading decisions: the list (also on the plan page) and one decision's page.

Each loads in a fixed number of queries, whatever the number of decisions,
options, answers or messages. Reads are audited here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, select

from portal import audit
from portal.access import Access, Scope
from portal.careplan.models import Activity
from portal.decisions.models import (
    CollaborateAnswer,
    Decision,
    DecisionLean,
    DecisionMessage,
    DecisionOption,
    DecisionParticipant,
    DecisionStatus,
    SureAnswer,
)
from portal.decisions.outcome import Person, people
from portal.decisions.services import get_decision
from portal.extensions import db
from portal.goals.models import Goal

PAGE_MESSAGES = 100  # the newest of a decision's thread
PLAN_SHOWN = 10  # decisions on the plan page; the decisions page has all

_CHOSEN = DecisionOption.__table__.alias("chosen")


def _list_statement(access: Access, *, withdrawn: bool):
    """Decisions as list rows (question, state, the chosen option's title): one statement."""
    statement = (
        select(
            Decision.id,
            Decision.question,
            Decision.status,
            Decision.decide_by,
            Decision.ready,
            Decision.decided_at,
            Decision.revisit_on,
            Decision.opened_at,
            Decision.opened_by_name,
            Decision.sensitivity,
            Decision.sensitivity.is_not(None).label("sensitive"),
            _CHOSEN.c.title.label("chosen_title"),
        )
        .outerjoin(_CHOSEN, and_(_CHOSEN.c.decision_id == Decision.id, _CHOSEN.c.chosen.is_(True)))
        .where(*access.item_filter(Decision))
        .order_by(
            case((Decision.status == DecisionStatus.OPEN, 0), else_=1),
            Decision.decide_by,
            Decision.decided_at.desc(),
            Decision.id.desc(),
        )
    )
    if not withdrawn:
        statement = statement.where(Decision.status != DecisionStatus.WITHDRAWN)
    return statement


def list_decisions(access: Access) -> list[Any]:
    """Every decision this access may see, open ones first by their date: one query."""
    access.require(Scope.DECISIONS_READ)
    rows = db.session.execute(_list_statement(access, withdrawn=True)).all()
    audit.record(access, "read", "decisions", access.patient_id)
    return rows


def plan_decisions(access: Access) -> list[Any]:
    """The decisions the plan page shows (its read is audited as the plan's): one query.

    Called while the kept plan page renders, so only when its data changed.
    """
    if not access.can(Scope.DECISIONS_READ):
        return []
    statement = _list_statement(access, withdrawn=False).limit(PLAN_SHOWN + 1)
    return db.session.execute(statement).all()


@dataclass
class DecisionPage:
    """Everything one decision's page shows."""

    decision: Decision
    options: list[DecisionOption]
    lean: DecisionLean | None
    sure: SureAnswer | None
    messages: list[DecisionMessage]
    participants: list[DecisionParticipant]
    collaborate: CollaborateAnswer | None
    linked: dict[str, str] = field(default_factory=dict)  # "goal"/"activity" -> title
    people: list[Person] = field(default_factory=list)  # who may take part (the team's form)

    @property
    def lean_option(self) -> DecisionOption | None:
        if self.lean is None or self.lean.option_id is None:
            return None
        return next((o for o in self.options if o.id == self.lean.option_id), None)

    @property
    def chosen(self) -> DecisionOption | None:
        return next((o for o in self.options if o.chosen), None)

    @property
    def sure_no(self) -> list[str]:
        """The SURE items answered "no" (the team's hint at what support is missing)."""
        if self.sure is None:
            return []
        return [
            name
            for name in ("sure", "understand", "risk_benefit", "encouragement")
            if not getattr(self.sure, name)
        ]


def load_page(access: Access, decision_id: int) -> DecisionPage:
    """One decision with its options, lean, latest SURE, thread and outcome: fixed queries."""
    decision = get_decision(access, decision_id)
    scalars = db.session.scalars
    page = DecisionPage(
        decision=decision,
        options=list(
            scalars(
                select(DecisionOption)
                .where(DecisionOption.decision_id == decision.id)
                .order_by(DecisionOption.position)
            )
        ),
        lean=db.session.get(DecisionLean, decision.id),
        sure=scalars(
            select(SureAnswer)
            .where(SureAnswer.decision_id == decision.id)
            .order_by(SureAnswer.id.desc())
            .limit(1)
        ).first(),
        messages=list(
            scalars(
                select(DecisionMessage)
                .where(DecisionMessage.decision_id == decision.id)
                .order_by(DecisionMessage.id.desc())
                .limit(PAGE_MESSAGES)
            )
        )[::-1],
        participants=list(
            scalars(
                select(DecisionParticipant)
                .where(DecisionParticipant.decision_id == decision.id)
                .order_by(DecisionParticipant.from_team, DecisionParticipant.name)
            )
        ),
        collaborate=None,
    )
    if decision.status is DecisionStatus.DECIDED:
        page.collaborate = scalars(
            select(CollaborateAnswer).where(CollaborateAnswer.decision_id == decision.id)
        ).first()
        page.linked = _linked(access, decision)
    elif decision.is_open and access.can(Scope.PLAN_EDIT):
        page.people = people(access)
    audit.record(access, "read", "decision", decision.id)
    return page


def _linked(access: Access, decision: Decision) -> dict[str, str]:
    """Titles of the goal or activity the decision put on the plan, as this access may see."""
    linked = {}
    if decision.goal_id is not None:
        title = db.session.scalar(
            select(Goal.title).where(Goal.id == decision.goal_id, *access.item_filter(Goal))
        )
        if title:
            linked["goal"] = title
    if decision.activity_id is not None:
        title = db.session.scalar(
            select(Activity.title).where(
                Activity.id == decision.activity_id, *access.item_filter(Activity)
            )
        )
        if title:
            linked["activity"] = title
    return linked
