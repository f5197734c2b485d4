"""Decisions on the plan: a question, its options, the patient's lean, SURE and CollaboRATE.

A clinician opens a decision with two or more options (Option Grid style:
what it involves, benefits, risks, burdens). The patient leans one way and
says why, asks in the decision's own thread, and answers SURE (Légaré 2010);
fewer than four "yes" marks the decision not ready (`Decision.ready`, kept on
the row so lists need no join). The team records the outcome; the patient may
then answer CollaboRATE (Elwyn 2013) about the team's effort.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.careplan.models import Sensitivity, _enum
from portal.db import utcnow
from portal.extensions import db


class DecisionStatus(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {"open": "Open", "decided": "Decided", "withdrawn": "Withdrawn"}[self.value]


class Decision(db.Model):
    """A question the patient and team decide together, by a date."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(Text, default="")  # why this decision, in plain words
    decide_by: Mapped[date | None]
    status: Mapped[DecisionStatus] = mapped_column(
        _enum(DecisionStatus, 20), default=DecisionStatus.OPEN
    )
    sensitivity: Mapped[Sensitivity | None] = mapped_column(_enum(Sensitivity))
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_by_name: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The latest SURE answers: None not yet asked, False fewer than four "yes", True ready.
    ready: Mapped[bool | None]
    # The outcome, once the team records it.
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_name: Mapped[str] = mapped_column(String(120), default="")
    revisit_on: Mapped[date | None]
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )
    # The decide-by reminder already queued for this date (so it is sent once).
    reminded_for: Mapped[date | None]

    @property
    def sensitive(self) -> bool:
        return self.sensitivity is not None

    @property
    def is_open(self) -> bool:
        return self.status is DecisionStatus.OPEN


class DecisionOption(db.Model):
    """One option of a decision, in plain language (an Option Grid row)."""

    __tablename__ = "decision_options"
    __table_args__ = (UniqueConstraint("decision_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    position: Mapped[int]  # 1, 2, ... as the clinician listed them
    title: Mapped[str] = mapped_column(String(200))
    involves: Mapped[str] = mapped_column(Text, default="")
    benefits: Mapped[str] = mapped_column(Text, default="")
    risks: Mapped[str] = mapped_column(Text, default="")
    burdens: Mapped[str] = mapped_column(Text, default="")
    chosen: Mapped[bool] = mapped_column(default=False)


class DecisionLean(db.Model):
    """Which way the patient leans, and why (one per decision; changed in place, audited)."""

    __tablename__ = "decision_leans"

    decision_id: Mapped[int] = mapped_column(
        ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    option_id: Mapped[int | None] = mapped_column(
        ForeignKey("decision_options.id", ondelete="CASCADE")
    )  # None: not sure yet
    why: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    by_name: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SureAnswer(db.Model):
    """One time the SURE test was answered; every answer is kept."""

    __tablename__ = "decision_sure_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        ForeignKey("decisions.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    sure: Mapped[bool]  # Sure of myself
    understand: Mapped[bool]  # Understand the information
    risk_benefit: Mapped[bool]  # Risk-benefit ratio clear
    encouragement: Mapped[bool]  # Encouragement: enough support
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    by_name: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def score(self) -> int:
        return sum((self.sure, self.understand, self.risk_benefit, self.encouragement))


class DecisionParticipant(db.Model):
    """Someone who took part in making the decision, as recorded by the team."""

    __tablename__ = "decision_participants"
    __table_args__ = (UniqueConstraint("decision_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(120))  # "Primary care physician", "Patient"
    from_team: Mapped[bool] = mapped_column(default=False)


class CollaborateAnswer(db.Model):
    """The patient's CollaboRATE answers after a decision: three items, 0 to 9."""

    __tablename__ = "collaborate_answers"
    __table_args__ = (
        UniqueConstraint("decision_id"),
        CheckConstraint("understand BETWEEN 0 AND 9", name="understand"),
        CheckConstraint("listen BETWEEN 0 AND 9", name="listen"),
        CheckConstraint("include BETWEEN 0 AND 9", name="include"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    understand: Mapped[int]  # effort to help you understand your health issues
    listen: Mapped[int]  # effort to listen to the things that matter most to you
    include: Mapped[int]  # effort to include what matters most to you in choosing
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    by_relation: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def top_score(self) -> bool:
        return self.understand == self.listen == self.include == 9


class DecisionMessage(db.Model):
    """One message in a decision's thread: the patient's questions and the team's answers."""

    __tablename__ = "decision_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(120))
    author_role: Mapped[str] = mapped_column(String(120))
    from_team: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_decisions_patient_status", Decision.patient_id, Decision.status)
Index("ix_decision_options_decision", DecisionOption.decision_id, DecisionOption.position)
Index("ix_decision_messages_decision", DecisionMessage.decision_id, DecisionMessage.id)
Index("ix_collaborate_answers_patient", CollaborateAnswer.patient_id)
