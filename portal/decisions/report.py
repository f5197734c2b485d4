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

Suppressing small lines is not enough on its own: a report read before and
after one new answer, or "Everyone" beside a clinician's line covering all but
one of its answers, gives that answer by subtraction. So every line is scored
on whole groups of `MIN_ANSWERS_SHOWN` of its answers, oldest first (the
newest few wait until their group is complete). Every scored set is then a
multiple of five answers, and the difference between any two of them that
contain one another (the same line over time, "Everyone" and a clinician's
line) is zero answers or at least five.
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
_ON_PANEL = CollaborateAnswer.patient_id == CARE_TEAM_PATIENTS.c.patient_id
MIN_ANSWERS_SHOWN = 5


def _measures(ranked) -> tuple:
    """Answers in all, and over the whole groups of five (oldest first): count, mean, tops.

    `ranked` has each answer's score, top flag, its place in its line (`place`, from 1,
    oldest first) and the line's number of answers (`answers`).
    """
    whole_groups = ranked.c.answers - ranked.c.answers % MIN_ANSWERS_SHOWN
    scored = ranked.c.place <= whole_groups
    return (
        func.count().label("count"),
        func.count(case((scored, 1))).label("scored"),
        func.avg(case((scored, ranked.c.score))).label("mean"),
        func.sum(case((scored, ranked.c.top), else_=0)).label("top"),
    )


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    label: str
    role: str
    count: int  # every answer on the line
    mean: float | None
    top: int
    scored: int = 0  # the answers its scores are worked out from: whole groups of five

    @property
    def shown(self) -> bool:
        """Whether there are enough answers to show their scores without exposing anyone's."""
        return self.scored >= MIN_ANSWERS_SHOWN

    @property
    def waiting(self) -> int:
        """The newest answers, not yet in a whole group, so not yet in the scores."""
        return self.count - self.scored

    @property
    def top_share(self) -> float | None:
        return self.top / self.scored if self.scored else None


@dataclass(frozen=True)
class Report:
    overall: Row
    clinicians: list[Row]


def _row(label: str, role: str, result) -> Row:
    """A line of the report; scores of fewer than MIN_ANSWERS_SHOWN answers never leave here."""
    count, scored = int(result.count or 0), int(result.scored or 0)
    if scored < MIN_ANSWERS_SHOWN:
        return Row(label, role, count, None, 0, scored)
    mean = float(result.mean) if result.mean is not None else None
    return Row(label, role, count, mean, int(result.top or 0), scored)


def collaborate_report(user: User) -> Report:
    """The CollaboRATE report for the patients on `user`'s care team: three statements."""
    params = care_team_params(user)
    answers = (
        select(
            CollaborateAnswer.id,
            _SCORE.label("score"),
            _TOP.label("top"),
            func.row_number().over(order_by=CollaborateAnswer.id).label("place"),
            func.count().over().label("answers"),
        )
        .select_from(CollaborateAnswer)
        .join(CARE_TEAM_PATIENTS, _ON_PANEL)
        .subquery("ranked")
    )
    overall = db.session.execute(select(*_measures(answers)), params).one()
    # Each clinician's line ranks their own answers: the decisions they took part in.
    by_clinician = (
        select(
            DecisionParticipant.user_id,
            DecisionParticipant.name,
            DecisionParticipant.role,
            _SCORE.label("score"),
            _TOP.label("top"),
            func.row_number()
            .over(partition_by=DecisionParticipant.user_id, order_by=CollaborateAnswer.id)
            .label("place"),
            func.count().over(partition_by=DecisionParticipant.user_id).label("answers"),
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
        .subquery("ranked")
    )
    per_clinician = db.session.execute(
        select(
            by_clinician.c.user_id,
            func.max(by_clinician.c.name).label("name"),
            func.max(by_clinician.c.role).label("role"),
            *_measures(by_clinician),
        )
        .group_by(by_clinician.c.user_id)
        .order_by(func.max(by_clinician.c.name)),
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
