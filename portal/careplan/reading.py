"""Reading the shared care plan: the plan page's state, items, team and history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select
from werkzeug.exceptions import NotFound

from portal import audit, transaction
from portal.access import Access, Scope, care_team_of
from portal.auth.models import Discipline, User
from portal.careplan.models import (
    Activity,
    ActivityStatus,
    CareTeamMember,
    Concern,
    ItemStatus,
    PlanReview,
    PlanRevision,
)
from portal.extensions import db
from portal.goals.models import Goal, GoalStatus
from portal.pagecache import Versions, version_columns
from portal.patients import Patient
from portal.prepared import Prepared


@dataclass
class TeamEntry:
    member_id: int
    user_id: int
    name: str
    role: str
    discipline: Discipline
    is_lead: bool


@dataclass
class PlanView:
    """Everything the plan page shows, loaded in a fixed number of queries."""

    concerns: list[Any]  # rows with the columns the plan shows
    goals: list[Any]
    activities: list[Any]
    team: list[TeamEntry]
    people: dict[int, str]
    changes: list[Any] = field(default_factory=list)

    def team_by_discipline(self) -> list[TeamEntry]:
        return sorted(self.team, key=lambda t: (not t.is_lead, t.discipline.value, t.name))


# The plan page is the portal's busiest page: it selects only the columns it
# shows, as plain rows (no ORM identity map), with statements built once.
_PID = bindparam("pid")
CHANGES_SHOWN = 5  # the newest few; the history page has the rest
_UID = bindparam("uid")


def _columns(model: type, *names: str) -> list:
    return [
        model.id,
        model.title,
        model.sensitivity,
        model.sensitivity.is_not(None).label("sensitive"),
        *(getattr(model, name) for name in names),
    ]


def revision_not_sensitive() -> list:
    """Revisions a reader without the sensitive scope may see: none about a sensitive item.

    Checked against the item as it is now, not only the flag the revision was
    written with: a revision from before an item was marked sensitive would
    otherwise still show its old title.
    """
    clauses = [PlanRevision.sensitive.is_(False)]
    for kind, model in (("concern", Concern), ("activity", Activity), ("goal", Goal)):
        clauses.append(
            ~exists().where(
                PlanRevision.item_type == kind,
                model.id == PlanRevision.item_id,
                model.sensitivity.is_not(None),
            )
        )
    return clauses


@cache
def _plan_statements(sees_sensitive: bool) -> tuple:
    def live(model: type, retired: Any):
        clauses = [model.patient_id == _PID, model.status != retired]
        if not sees_sensitive:
            clauses.append(model.sensitivity.is_(None))
        return clauses

    concerns = (
        select(*_columns(Concern, "detail", "category", "status"))
        .where(*live(Concern, ItemStatus.RETIRED))
        .order_by(Concern.status, Concern.category, Concern.id)
    )
    goals = (
        select(
            *_columns(
                Goal,
                "why",
                "category",
                "status",
                "achievement",  # shown as the goal page shows it (one status everywhere)
                "measure",
                "target_value",
                "frequency",
                "proposed_by_id",
                "agreed_by_id",
            )
        )
        .where(*live(Goal, GoalStatus.CANCELLED))
        .order_by(Goal.status, Goal.id)
    )
    activities = (
        select(
            *_columns(
                Activity,
                "detail",
                "discipline",
                "status",
                "assignee",
                "assignee_user_id",
                "due_on",
            )
        )
        .where(*live(Activity, ActivityStatus.RETIRED))
        .order_by(Activity.status, Activity.due_on, Activity.id)
    )
    changes = select(
        PlanRevision.version, PlanRevision.summary, PlanRevision.actor_name, PlanRevision.at
    ).where(
        PlanRevision.patient_id == _PID,
        PlanRevision.version > bindparam("seen"),
        # One's own edits are not news to oneself.
        or_(PlanRevision.actor_id.is_(None), PlanRevision.actor_id != bindparam("reader")),
    )
    if not sees_sensitive:
        changes = changes.where(*revision_not_sensitive())
    changes = changes.order_by(PlanRevision.version.desc()).limit(bindparam("limit"))
    return concerns, goals, activities, changes


_TEAM = (
    select(
        CareTeamMember.id,
        CareTeamMember.user_id,
        User.name,
        CareTeamMember.role,
        CareTeamMember.discipline,
        CareTeamMember.is_lead,
    )
    .join(User, User.id == CareTeamMember.user_id)
    .where(care_team_of(_PID))
    .order_by(CareTeamMember.is_lead.desc(), User.name)
)


def load_team(patient_id: int) -> list[TeamEntry]:
    """The active care team with names, one query."""
    rows = transaction.connection().execute(_TEAM, {"pid": patient_id})
    return [TeamEntry(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class PlanState:
    """What the plan page is named by and shows about agreement, read in one query."""

    versions: Versions
    version: int  # the plan's own revision number
    agreed_version: int | None
    seen_version: int  # the revision this reader last marked as seen
    birth_date: date | None = None  # for the banner and the printout

    @property
    def agreed(self) -> bool:
        return bool(self.version) and self.agreed_version == self.version

    @property
    def unseen(self) -> bool:
        return self.version > self.seen_version


_STATE = Prepared(
    select(
        *version_columns(),
        Patient.plan_version,
        Patient.plan_agreed_version,
        PlanReview.seen_version,
        Patient.birth_date,
    )
    .outerjoin(
        PlanReview,
        and_(PlanReview.patient_id == Patient.id, PlanReview.user_id == _UID),
    )
    .where(Patient.id == _PID)
)


def plan_state(access: Access) -> PlanState:
    """The plan's versions and this reader's seen and agreed marks, one query."""
    row = _STATE.first(transaction.connection(), {"pid": access.patient_id, "uid": access.actor_id})
    if row is None:
        raise NotFound()  # the record went since its access was resolved
    return PlanState(
        Versions.of(row),
        row.plan_version,
        row.plan_agreed_version,
        row.seen_version or 0,
        row.birth_date,
    )


def load_plan(access: Access, state: PlanState, *, whole: bool = True) -> PlanView:
    """The live plan as this access may see it, in a fixed number of queries.

    `whole=False` loads only what the patient's home shows of it: activities
    and the recent changes (the home's goals come from the goals service).
    Reading is audited by `record_read`, also when the page was kept.
    """
    access.require(Scope.PLAN_READ)
    concerns, goals, activities, changes = _plan_statements(access.sees_sensitive)
    params = {"pid": access.patient_id}
    execute = transaction.connection().execute  # plain rows: no ORM work per row
    view = PlanView(concerns=[], goals=[], activities=[], team=[], people={})
    view.activities = execute(activities, params).all()
    if whole:
        view.concerns = execute(concerns, params).all()
        view.goals = execute(goals, params).all()
        view.team = load_team(access.patient_id)
        view.people = {t.user_id: t.name for t in view.team}
        if access.patient_user_id is not None:  # the patient proposes and agrees to goals too
            view.people[access.patient_user_id] = access.patient_name
        view.people.update(_names(_referenced_people(view.goals, view.activities), view.people))
    if state.unseen:
        params = {
            "pid": access.patient_id,
            "seen": state.seen_version,
            "reader": access.actor_id,
            "limit": CHANGES_SHOWN + 1,
        }
        view.changes = execute(changes, params).all()
    return view


def record_read(access: Access) -> None:
    """Audit a read of the plan (every view, kept or rendered)."""
    audit.record(access, "read", "care_plan", access.patient_id)


def _referenced_people(goals: Iterable[Any], activities: Iterable[Any]) -> set[int]:
    ids = {g.proposed_by_id for g in goals} | {g.agreed_by_id for g in goals}
    ids |= {a.assignee_user_id for a in activities}
    ids.discard(None)
    return ids  # type: ignore[return-value]


def _names(user_ids: set[int], known: dict[int, str]) -> dict[int, str]:
    missing = user_ids - known.keys()
    if not missing:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(missing))).all())


def history(access: Access, limit: int = 200) -> list[PlanRevision]:
    """The plan's revision history, newest first, as this access may see it."""
    access.require(Scope.PLAN_READ)
    query = select(PlanRevision).where(PlanRevision.patient_id == access.patient_id)
    if not access.sees_sensitive:
        query = query.where(*revision_not_sensitive())
    audit.record(access, "read", "plan_history", access.patient_id)
    return list(db.session.scalars(query.order_by(PlanRevision.version.desc()).limit(limit)))
