"""Domain operations on the shared care plan. Services flush; the request commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from werkzeug.exceptions import NotFound

from portal import audit
from portal.access import Access, Scope, care_team_of
from portal.auth.models import Discipline, User, UserKind
from portal.careplan import reading
from portal.careplan.models import (
    Activity,
    ActivityStatus,
    CareTeamMember,
    Concern,
    ItemStatus,
    PlanReview,
    PlanRevision,
)
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal, GoalStatus
from portal.notifications.services import notify_plan_changed
from portal.patients import Patient


class PlanError(ValueError):
    """A plan operation that cannot be done as asked; the message is for people."""


@dataclass(frozen=True)
class ItemKind:
    """How one kind of plan item is stored, named and retired."""

    name: str
    model: type
    label: str
    retired: Any
    live: tuple[Any, ...]


ITEM_KINDS: dict[str, ItemKind] = {
    "concern": ItemKind(
        "concern",
        Concern,
        "health concern",
        ItemStatus.RETIRED,
        (ItemStatus.ACTIVE, ItemStatus.RESOLVED),
    ),
    "goal": ItemKind(
        "goal",
        Goal,
        "goal",
        GoalStatus.CANCELLED,
        (GoalStatus.PROPOSED, GoalStatus.ACTIVE, GoalStatus.ON_HOLD, GoalStatus.COMPLETED),
    ),
    "activity": ItemKind(
        "activity",
        Activity,
        "activity",
        ActivityStatus.RETIRED,
        (ActivityStatus.PLANNED, ActivityStatus.IN_PROGRESS, ActivityStatus.DONE),
    ),
}


def item_kind(name: str) -> ItemKind:
    try:
        return ITEM_KINDS[name]
    except KeyError:
        raise NotFound() from None


def mark_seen(access: Access) -> None:
    """Remember that this reader has seen the plan as it is now."""
    access.require(Scope.PLAN_READ)
    version = db.session.scalar(select(Patient.plan_version).where(Patient.id == access.patient_id))
    review = db.session.get(PlanReview, (access.actor_id, access.patient_id))
    if review is None:
        review = PlanReview(user_id=access.actor_id, patient_id=access.patient_id)
        db.session.add(review)
    review.seen_version = version
    review.seen_at = utcnow()
    audit.record(access, "mark_read", "plan_changes", access.patient_id)


def agree(access: Access) -> None:
    """The patient has reviewed the plan as it stands now and agrees with it."""
    access.require(Scope.PLAN_AGREE)
    now = utcnow()
    db.session.execute(
        update(Patient)
        .where(Patient.id == access.patient_id)
        .values(plan_agreed_version=Patient.plan_version, plan_agreed_at=now)
    )
    mark_seen(access)
    audit.record(access, "agree", "care_plan", access.patient_id)


def record_revision(
    access: Access,
    kind: str,
    item_id: int | None,
    action: str,
    summary: str,
    changes: dict[str, Any] | None = None,
    *,
    sensitive: bool = False,
) -> int:
    """Bump the plan's version and record who changed what; returns the new version.

    The UPDATE ... RETURNING takes the patient row's lock on PostgreSQL, so
    concurrent edits get consecutive versions.
    """
    now = utcnow()
    version = db.session.execute(
        update(Patient)
        .where(Patient.id == access.patient_id)
        .values(plan_version=Patient.plan_version + 1, plan_updated_at=now)
        .returning(Patient.plan_version)
    ).scalar_one()
    db.session.add(
        PlanRevision(
            patient_id=access.patient_id,
            version=version,
            at=now,
            actor_id=access.actor_id,
            actor_name=access.actor_name,
            actor_relation=access.relation.value,
            item_type=kind,
            item_id=item_id,
            action=action,
            summary=summary[:300],
            changes=changes or {},
            sensitive=sensitive,
        )
    )
    notify_plan_changed(access, now, sensitive=sensitive)
    return version


def get_item(access: Access, kind: str, item_id: int):
    """One plan item of this patient that this access may see, else 404."""
    spec = item_kind(kind)
    item = db.session.scalar(
        select(spec.model).where(spec.model.id == item_id, *access.item_filter(spec.model))
    )
    if item is None:
        raise NotFound()
    return item


def _display(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(getattr(value, "label", value))


def _diff(item: Any, values: dict[str, Any]) -> dict[str, list[str]]:
    changes = {}
    for name, new in values.items():
        old = getattr(item, name)
        if old != new:
            changes[name] = [_display(old), _display(new)]
    return changes


def add_item(access: Access, kind: str, values: dict[str, Any]):
    """Add a concern, goal or activity to the plan, with a revision and an audit row."""
    access.require(Scope.PLAN_EDIT)
    spec = item_kind(kind)
    _check_assignee(access, values)
    item = spec.model(
        patient_id=access.patient_id,
        created_by_id=access.actor_id,
        updated_by_id=access.actor_id,
        **values,
    )
    if kind == "goal":
        item.proposed_by_id = access.actor_id
    db.session.add(item)
    db.session.flush()
    record_revision(
        access,
        kind,
        item.id,
        "added",
        f"Added {spec.label} “{item.title}”",
        {k: [None, _display(v)] for k, v in values.items()},
        sensitive=item.sensitive,
    )
    audit.record(access, "create", kind, item.id)
    return item


def change_item(access: Access, kind: str, item_id: int, values: dict[str, Any]):
    """Change an item; records only what really changed. Returns the item."""
    access.require(Scope.PLAN_EDIT)
    spec = item_kind(kind)
    item = get_item(access, kind, item_id)
    _check_assignee(access, values)
    changes = _diff(item, values)
    if not changes:
        return item
    was_sensitive = item.sensitive
    for name, value in values.items():
        setattr(item, name, value)
    item.updated_at = utcnow()
    item.updated_by_id = access.actor_id
    fields = ", ".join(name.replace("_", " ") for name in changes)
    record_revision(
        access,
        kind,
        item.id,
        "changed",
        f"Changed {spec.label} “{item.title}”: {fields}",
        changes,
        sensitive=was_sensitive or item.sensitive,
    )
    audit.record(access, "update", kind, item.id)
    return item


def retire_item(access: Access, kind: str, item_id: int):
    """Take an item off the live plan; it stays in the history."""
    access.require(Scope.PLAN_EDIT)
    spec = item_kind(kind)
    item = get_item(access, kind, item_id)
    if item.status == spec.retired:
        raise PlanError(f"This {spec.label} is already retired.")
    item.status = spec.retired
    item.updated_at = utcnow()
    item.updated_by_id = access.actor_id
    record_revision(
        access,
        kind,
        item.id,
        "retired",
        f"Retired {spec.label} “{item.title}”",
        sensitive=item.sensitive,
    )
    audit.record(access, "retire", kind, item.id)
    return item


def _check_assignee(access: Access, values: dict[str, Any]) -> None:
    user_id = values.get("assignee_user_id")
    if user_id is None:
        return
    on_team = db.session.scalar(
        select(CareTeamMember.id).where(
            care_team_of(access.patient_id), CareTeamMember.user_id == user_id
        )
    )
    if on_team is None:
        raise PlanError("Choose someone who is on this patient's care team.")


# -- the care team ---------------------------------------------------------


def clinicians_not_on_team(patient_id: int) -> list[User]:
    """Clinicians who could be added to this patient's team."""
    on_team = select(CareTeamMember.user_id).where(care_team_of(patient_id))
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.kind == UserKind.CLINICIAN,
                User.is_active_account.is_(True),
                User.id.not_in(on_team),
            )
            .order_by(User.name)
        )
    )


def add_team_member(
    access: Access, user_id: int, role: str, discipline: Discipline, is_lead: bool = False
) -> CareTeamMember:
    """Put a clinician on the patient's care team (or back on it)."""
    access.require(Scope.TEAM_MANAGE)
    user = db.session.get(User, user_id)
    if user is None or user.kind is not UserKind.CLINICIAN or not user.is_active:
        raise PlanError("Choose a clinician of this practice.")
    member = db.session.scalar(
        select(CareTeamMember).where(
            CareTeamMember.patient_id == access.patient_id, CareTeamMember.user_id == user_id
        )
    )
    if member is not None and member.ended_at is None:
        raise PlanError(f"{user.name} is already on the care team.")
    if member is None:
        member = CareTeamMember(patient_id=access.patient_id, user_id=user_id)
        db.session.add(member)
    member.role, member.discipline, member.is_lead = role, discipline, is_lead
    member.ended_at = None
    member.added_at = utcnow()
    db.session.flush()
    record_revision(
        access, "team", member.id, "added", f"{user.name} joined the care team as {role}"
    )
    audit.record(access, "create", "care_team_member", member.id)
    if is_lead:  # a privilege: the lead adds and removes members
        audit.record(access, "make_lead", "care_team_member", member.id)
    return member


def remove_team_member(access: Access, member_id: int) -> str:
    """End a clinician's membership (the plan keeps at least one member); their name."""
    access.require(Scope.TEAM_MANAGE)
    team = reading.load_team(access.patient_id)
    entry = next((t for t in team if t.member_id == member_id), None)
    if entry is None:
        raise NotFound()
    if len(team) == 1:
        raise PlanError("A care plan needs at least one care-team member.")
    if entry.is_lead and not any(t.is_lead for t in team if t.member_id != member_id):
        raise PlanError(f"{entry.name} is the team's only lead clinician. Add another lead first.")
    db.session.execute(
        update(CareTeamMember).where(CareTeamMember.id == member_id).values(ended_at=utcnow())
    )
    record_revision(
        access, "team", member_id, "retired", f"{entry.name} left the care team ({entry.role})"
    )
    audit.record(access, "retire", "care_team_member", member_id)
    return entry.name
