"""'Who has seen my information': a patient's access log in plain words, a visit at a time.

Every access to the record by anyone but the patient (clinicians, caregivers,
administrators; refused attempts too), newest first. Repeated views of the
same thing in one visit (one signed-in session) are one line: "3 times".
`actor_id` restricts it to one person, which is how a caregiver sees their
own part of it. One query for a page of lines, one for the people in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, func, literal, select, union_all

from portal.audit.listed import events_showing
from portal.audit.log import LIST_PLACES
from portal.audit.models import AuditEvent
from portal.auth.models import DISCIPLINE_LABELS, Discipline, User, UserKind
from portal.extensions import db

PER_PAGE = 30

# (action, object_type) -> what the person did, said to the patient.
_DID = {
    ("read", "care_plan"): "looked at your care plan",
    ("read", "plan_history"): "looked at the changes to your care plan",
    ("read", "care_team"): "looked at your care team",
    ("read", "goals"): "looked at your goals",
    ("read", "goal"): "looked at one of your goals",
    ("read", "goal_thread"): "read your messages about a goal",
    ("read", "progress_entry"): "looked at progress you logged",
    ("read", "concern"): "looked at a health concern in your plan",
    ("read", "activity"): "looked at an activity in your plan",
    ("read", "form_errors"): "looked at your information on a form to correct",
    ("read", "page"): "looked at your information",
    ("submit", "page"): "tried to change your information",
    ("create", "goal_message"): "wrote to you about a goal",
    ("create", "goal"): "suggested a goal",
    ("update", "goal"): "changed a goal",
    ("review", "goal"): "reviewed how a goal is going",
    ("share", "goal"): "shared a goal",
    ("create", "concern"): "added a health concern to your plan",
    ("update", "concern"): "changed a health concern in your plan",
    ("retire", "concern"): "retired a health concern in your plan",
    ("create", "activity"): "added an activity to your plan",
    ("update", "activity"): "changed an activity in your plan",
    ("retire", "activity"): "retired an activity in your plan",
    ("create", "care_team_member"): "added someone to your care team",
    ("make_lead", "care_team_member"): "made someone a lead clinician of your care team",
    ("retire", "care_team_member"): "removed someone from your care team",
    ("mark_read", "plan_changes"): "saw the latest changes to your plan",
    ("create", "progress_entry"): "logged progress for you",
    ("update", "progress_entry"): "changed progress logged for you",
    ("delete", "progress_entry"): "removed progress logged for you",
    (
        "end_guardian",
        "caregiver_grant",
    ): "ended a parent's or guardian's access to your information",
    ("cancel", "guardian_invitation"): "cancelled an invitation to a parent or guardian",
}


@dataclass(frozen=True)
class Line:
    """One line of the log: a person, what they did (once or more in one visit), when."""

    at: datetime
    actor_id: int | None
    actor_name: str | None
    actor_kind: str | None
    discipline: str | None
    relation: str
    action: str
    object_type: str
    listed: bool
    times: int

    @property
    def who(self) -> str:
        """'Dr. Riley Rivera, primary care', 'Sam Morgan, your caregiver'."""
        name = self.actor_name or "Someone whose account was removed"
        if self.relation == "caregiver":
            return f"{name}, your caregiver"
        if self.discipline:
            return f"{name}, {DISCIPLINE_LABELS[Discipline(self.discipline)].lower()}"
        if self.actor_kind == UserKind.ADMIN.value:
            return f"{name}, an administrator"
        return name

    @property
    def did(self) -> str:
        if self.listed:
            return f"saw you {LIST_PLACES.get(self.object_type, 'in a list')}"
        if self.action == "refused" and self.object_type in ("http_403", "http_404"):
            return "tried to open your information and was turned away"
        if self.action == "refused":  # input no field can hold, an expired form (400, 413)
            return "sent something about your information that was refused"
        if self.action == "not_saved":
            return "tried to change your information; it was not saved"
        if self.action == "open_form":
            return "opened a form to change your plan"
        default = f"{self.action} {self.object_type}".replace("_", " ")
        return _DID.get((self.action, self.object_type), default)

    def sentence(self) -> str:
        """'Dr. Riley Rivera, primary care, looked at your care plan'."""
        return f"{self.who}, {self.did}"


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    page: int
    has_older: bool


def _events(patient_id: int, actor_id: int | None, since, until) -> Select:
    """Direct events about the patient and list events showing them, filtered, unioned."""

    def filtered(query: Select) -> Select:
        if actor_id is not None:
            query = query.where(AuditEvent.actor_id == actor_id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        return query.where(AuditEvent.relation != "self")

    columns = (
        AuditEvent.at,
        AuditEvent.actor_id,
        AuditEvent.relation,
        AuditEvent.action,
        AuditEvent.object_type,
        # A visit: the session; rows written before sessions were recorded stand alone.
        func.coalesce(AuditEvent.session_id, -AuditEvent.id).label("visit"),
    )
    direct = select(*columns, literal(False).label("listed")).where(
        AuditEvent.patient_id == patient_id
    )
    showing = events_showing(patient_id)
    listed = (
        select(*columns, literal(True).label("listed"))
        .select_from(showing)
        .join(AuditEvent, AuditEvent.id == showing.c.event_id)
    )
    return union_all(filtered(direct), filtered(listed))


def access_history(
    patient_id: int,
    *,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """A page of the patient's access log: one line per person, thing done and visit."""
    events = _events(patient_id, actor_id, since, until).subquery("events")
    key = (
        events.c.actor_id,
        events.c.visit,
        events.c.relation,
        events.c.action,
        events.c.object_type,
        events.c.listed,
    )
    visits = (
        select(*key, func.max(events.c.at).label("at"), func.count().label("times"))
        .group_by(*key)
        .subquery("visits")
    )
    query = (
        select(visits, User.name, User.kind, User.discipline)
        .outerjoin(User, User.id == visits.c.actor_id)
        .order_by(visits.c.at.desc(), visits.c.actor_id, visits.c.action)
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    rows = db.session.execute(query).all()
    lines = [
        Line(
            at=r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
            actor_id=r.actor_id,
            actor_name=r.name,
            actor_kind=r.kind.value if r.kind else None,
            discipline=r.discipline.value if r.discipline else None,
            relation=r.relation,
            action=r.action,
            object_type=r.object_type,
            listed=bool(r.listed),
            times=r.times,
        )
        for r in rows[:per_page]
    ]
    return Page(lines, page, len(rows) > per_page)


def people_in_history(patient_id: int, actor_id: int | None = None) -> list[tuple[int, str]]:
    """Everyone (but the patient) who appears in the log, by name: the filter's choices."""
    events = _events(patient_id, actor_id, None, None).subquery("events")
    actors = select(events.c.actor_id).distinct().subquery("actors")
    rows = db.session.execute(
        select(User.id, User.name)
        .join(actors, and_(actors.c.actor_id == User.id))
        .order_by(User.name)
    )
    return [(r.id, r.name) for r in rows]
