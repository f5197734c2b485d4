"""The team's CollaboRATE report: count, mean and share of top scores, overall and per clinician.

Scored as published (Elwyn et al. 2013; Barr et al. 2014): a respondent's
score is the mean of the three items (0 to 9); a "top score" is 9 on all
three items, and the share of top scores is the recommended summary. The
answers counted are those about decisions of patients on the reader's care
team now (`CARE_TEAM_PATIENTS`, the rule every list uses); a clinician's row
counts the decisions they took part in. Three statements, whatever the number
of decisions or answers.

Answers are anonymous to the team, so a line built on fewer than
`MIN_ANSWERS_SHOWN` shows how many answers there are but not their score: a
clinician who took part in one decision last week would otherwise read that
patient's own rating (CollaboRATE's authors ask that ratings stay anonymous,
and small cells are suppressed in any published health statistic).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select

from portal import audit
from portal.access import CARE_TEAM_PATIENTS, care_team_params
from portal.auth.models import User
from portal.decisions.models import CollaborateAnswer, DecisionParticipant
from portal.extensions import db

_TOP = case(
    (
        and_(
            CollaborateAnswer.understand == 9,
            CollaborateAnswer.listen == 9,
            CollaborateAnswer.include == 9,
        ),
        1,
    ),
    else_=0,
)
_SCORE = (CollaborateAnswer.understand + CollaborateAnswer.listen + CollaborateAnswer.include) / 3.0
_MEASURES = (
    func.count(CollaborateAnswer.id).label("count"),
    func.avg(_SCORE).label("mean"),
    func.sum(_TOP).label("top"),
)
_ON_PANEL = CollaborateAnswer.patient_id == CARE_TEAM_PATIENTS.c.patient_id
MIN_ANSWERS_SHOWN = 5


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    label: str
    role: str
    count: int
    mean: float | None
    top: int

    @property
    def shown(self) -> bool:
        """Whether there are enough answers to show their scores without exposing anyone's."""
        return self.count >= MIN_ANSWERS_SHOWN

    @property
    def top_share(self) -> float | None:
        return self.top / self.count if self.count else None


@dataclass(frozen=True)
class Report:
    overall: Row
    clinicians: list[Row]


def _row(label: str, role: str, result) -> Row:
    """A line of the report; under MIN_ANSWERS_SHOWN answers its scores never leave here."""
    count = int(result.count or 0)
    if count < MIN_ANSWERS_SHOWN:
        return Row(label, role, count, None, 0)
    mean = float(result.mean) if result.mean is not None else None
    return Row(label, role, count, mean, int(result.top or 0))


def collaborate_report(user: User) -> Report:
    """The CollaboRATE report for the patients on `user`'s care team: three statements."""
    params = care_team_params(user)
    overall = db.session.execute(
        select(*_MEASURES).select_from(CollaborateAnswer).join(CARE_TEAM_PATIENTS, _ON_PANEL),
        params,
    ).one()
    per_clinician = db.session.execute(
        select(
            DecisionParticipant.user_id,
            func.max(DecisionParticipant.name).label("name"),
            func.max(DecisionParticipant.role).label("role"),
            *_MEASURES,
        )
        .select_from(CollaborateAnswer)
        .join(CARE_TEAM_PATIENTS, _ON_PANEL)
        .join(
            DecisionParticipant,
            and_(
                DecisionParticipant.decision_id == CollaborateAnswer.decision_id,
                DecisionParticipant.from_team.is_(True),
            ),
        )
        .group_by(DecisionParticipant.user_id)
        .order_by(func.max(DecisionParticipant.name)),
        params,
    ).all()
    patients = db.session.scalars(
        select(CollaborateAnswer.patient_id).join(CARE_TEAM_PATIENTS, _ON_PANEL).distinct(),
        params,
    ).all()
    audit.record_list(user.id, "collaborate_report", patients)
    return Report(
        overall=_row("Everyone", "", overall),
        clinicians=[_row(r.name, r.role, r) for r in per_clinician],
    )
