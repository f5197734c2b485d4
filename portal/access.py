"""THE access policy: how the signed-in user relates to a patient, and what that allows.

Every patient-scoped view goes through `patient_view`, which resolves the
relation from the database on every request (so a revoked relation stops
working at once, also in sessions already open) and answers 404 when there is
none: a stranger never learns that a patient exists.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, g, request
from flask_login import current_user
from sqlalchemy import ColumnElement, Subquery, and_, bindparam, select
from sqlalchemy.orm import aliased

from portal import transaction
from portal.auth.models import User, UserKind
from portal.caregivers import guardians
from portal.caregivers.models import Grant, GrantKind
from portal.careplan.models import CareTeamMember
from portal.db import utcnow
from portal.extensions import db, login_manager
from portal.patients import Patient
from portal.prepared import Prepared


class Relation(enum.StrEnum):
    SELF = "self"
    CAREGIVER = "caregiver"
    CARE_TEAM = "care_team"
    NONE = "none"


class Scope(enum.StrEnum):
    """What an access allows. Caregiver grants (a later release) name a subset."""

    PLAN_READ = "plan:read"
    PLAN_EDIT = "plan:edit"  # add, change, retire concerns, goals, activities
    PLAN_AGREE = "plan:agree"  # mark the plan as reviewed and agreed
    TEAM_MANAGE = "team:manage"
    GOALS_READ = "goals:read"
    GOALS_WRITE = "goals:write"  # create and change one's own goals, answer proposals
    GOALS_PROPOSE = "goals:propose"
    GOALS_LOG = "goals:log"
    GOALS_REVIEW = "goals:review"  # set achievement and status as the team
    MESSAGES = "messages"
    DECISIONS_READ = "decisions:read"
    DECISIONS_WRITE = "decisions:write"
    NOTIFY = "notify"
    SENSITIVE = "sensitive"  # see items marked sensitive
    CAREGIVERS_MANAGE = "caregivers:manage"  # invite, change and end caregivers' access


SELF_SCOPES = frozenset(
    {
        Scope.PLAN_READ,
        Scope.PLAN_AGREE,
        Scope.GOALS_READ,
        Scope.GOALS_WRITE,
        Scope.GOALS_LOG,
        Scope.MESSAGES,
        Scope.DECISIONS_READ,
        Scope.DECISIONS_WRITE,
        Scope.NOTIFY,
        Scope.SENSITIVE,
        Scope.CAREGIVERS_MANAGE,
    }
)
# What a caregiver grant can ever name (it names a subset; SENSITIVE only by a separate choice).
CAREGIVER_SCOPES = frozenset(
    {
        Scope.PLAN_READ,
        Scope.GOALS_READ,
        Scope.GOALS_LOG,
        Scope.MESSAGES,
        Scope.DECISIONS_READ,
        Scope.DECISIONS_WRITE,
        Scope.NOTIFY,
    }
)
CARE_TEAM_SCOPES = frozenset(
    {
        Scope.PLAN_READ,
        Scope.PLAN_EDIT,
        Scope.TEAM_MANAGE,
        Scope.GOALS_READ,
        Scope.GOALS_PROPOSE,
        Scope.GOALS_REVIEW,
        Scope.MESSAGES,
        Scope.DECISIONS_READ,
        Scope.SENSITIVE,
    }
)


# Only the team's lead clinician adds or removes members (administrators, from
# their own pages); every member reads and edits the plan.
MEMBER_SCOPES = CARE_TEAM_SCOPES - {Scope.TEAM_MANAGE}


class AccessDenied(Exception):
    """The actor relates to the patient but lacks the scope for this operation."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


@dataclass(frozen=True, slots=True)
class Access:
    """Who is acting, for which patient, as which relation, with which scopes."""

    actor_id: int
    actor_name: str
    actor_kind: UserKind
    patient_id: int
    patient_name: str
    patient_user_id: int | None
    relation: Relation
    scopes: frozenset[str]
    patient_timezone: str | None = None  # the patient's own (their days are their entries' days)
    patient_birth_date: date | None = None  # the banner on every patient page shows it and the age
    team_role: str | None = None
    grant_id: int | None = None  # the caregiver grant this access stands on

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        """Raise AccessDenied unless the access holds `scope` (services call this)."""
        if scope not in self.scopes:
            raise AccessDenied(scope)

    @property
    def sees_sensitive(self) -> bool:
        return Scope.SENSITIVE in self.scopes

    @property
    def is_self(self) -> bool:
        return self.relation is Relation.SELF

    @property
    def is_care_team(self) -> bool:
        return self.relation is Relation.CARE_TEAM

    @property
    def is_caregiver(self) -> bool:
        return self.relation is Relation.CAREGIVER

    def attribution(self) -> str:
        """How work done through this access is signed: 'Sam Morgan (caregiver) for Alex Morgan'."""
        if self.is_caregiver:
            return f"{self.actor_name} (caregiver) for {self.patient_name}"
        return self.actor_name

    def item_filter(self, model: type) -> list:
        """WHERE clauses for this patient's rows of `model` that this access may see.

        Items marked sensitive are left out, without a trace, unless the access
        holds the sensitive scope.
        """
        clauses = [model.patient_id == self.patient_id]
        if not self.sees_sensitive:
            clauses.append(model.sensitivity.is_(None))
        return clauses

    def viewer_key(self) -> tuple:
        """Everything about this access that changes how a page looks: part of every cache key.

        Whose record it is (name and date of birth, as the banner shows), who is
        looking, as which relation and team role, with which scopes.
        """
        return (
            self.patient_id,
            self.patient_name,
            self.patient_birth_date,
            self.actor_id,
            self.relation,
            self.team_role,
            self.scopes,
        )

    def describe(self) -> str:
        """'Sam Morgan, caregiver, for Alex Morgan': how the audit log names an access."""
        if self.is_self:
            return f"{self.actor_name} (self)"
        return (
            f"{self.actor_name}, {self.relation.value.replace('_', ' ')}, for {self.patient_name}"
        )


def _active_membership(user_id: Any) -> ColumnElement[bool]:
    """THE rule for a care-team membership that grants access, to one patient or a list."""
    return and_(CareTeamMember.user_id == user_id, CareTeamMember.ended_at.is_(None))


def care_team_of(patient_id: Any) -> ColumnElement[bool]:
    """Care-team rows of the people on `patient_id`'s team now (the rule `resolve` uses)."""
    return and_(CareTeamMember.patient_id == patient_id, CareTeamMember.ended_at.is_(None))


def active_grant(patient_id: Any, user_id: Any, now: Any) -> ColumnElement[bool]:
    """THE rule for a caregiver grant that gives access: begun, not ended, not revoked."""
    return and_(
        Grant.patient_id == patient_id,
        Grant.caregiver_id == user_id,
        Grant.revoked_at.is_(None),
        Grant.starts_at <= now,
        Grant.ends_at > now,
    )


_PATIENT_USER = aliased(User)
_RELATIONS = (
    select(
        Patient.id,
        Patient.given_name,
        Patient.family_name,
        Patient.user_id,
        Patient.birth_date,
        CareTeamMember.role,
        CareTeamMember.is_lead,
        _PATIENT_USER.timezone,
        Grant.id.label("grant_id"),
        Grant.kind.label("grant_kind"),
        Grant.scopes.label("grant_scopes"),
        Grant.include_sensitive,
    )
    .outerjoin(
        CareTeamMember,
        and_(CareTeamMember.patient_id == Patient.id, _active_membership(bindparam("uid"))),
    )
    .outerjoin(_PATIENT_USER, _PATIENT_USER.id == Patient.user_id)
    .outerjoin(Grant, active_grant(Patient.id, bindparam("uid"), bindparam("now")))
)
_RELATION = Prepared(
    _RELATIONS.where(Patient.id == bindparam("pid")).order_by(Grant.id.desc()).limit(1)
)
# The same rows for several patients at once: the newest running grant wins, as above.
_RELATION_MANY = _RELATIONS.where(Patient.id.in_(bindparam("pids", expanding=True))).order_by(
    Patient.id, Grant.id.desc()
)


def grant_scopes(row: Any, now: datetime) -> frozenset[str] | None:
    """The scopes an active grant row gives (a guardian's also depend on the patient's age)."""
    scopes = frozenset(row.grant_scopes.split()) & CAREGIVER_SCOPES
    if Scope.DECISIONS_WRITE in scopes:
        # One cannot sensibly change what one may not see: changing implies reading.
        scopes |= {Scope.DECISIONS_READ}
    if row.include_sensitive:
        scopes |= {Scope.SENSITIVE}
    if row.grant_kind == GrantKind.GUARDIAN:
        return guardians.guardian_scopes(
            scopes,
            row.birth_date,
            _patient_today(now, row.timezone),
            current_app.config["GUARDIAN_SENSITIVE_AGE"],
        )
    return scopes


def _patient_today(now: datetime, timezone: str | None) -> date:
    return now.astimezone(ZoneInfo(timezone or "UTC")).date()


def resolve(user: User, patient_id: int) -> Access | None:
    """The access `user` has to patient `patient_id`, or None when there is no relation."""
    if not user.is_authenticated or not user.is_active:
        return None
    now = utcnow()
    params = {"pid": patient_id, "uid": user.id, "now": now}
    row = _RELATION.first(transaction.connection(), params)
    if row is None:
        return None
    return _access(user, row, now)


def resolve_many(user: User, patient_ids: Iterable[int]) -> dict[int, Access]:
    """`resolve` for several patients in one query: patient id -> Access, related ones only."""
    ids = sorted(set(patient_ids))
    if not ids or not user.is_authenticated or not user.is_active:
        return {}
    now = utcnow()
    params = {"pids": ids, "uid": user.id, "now": now}
    seen: set[int] = set()
    found: dict[int, Access] = {}
    for row in transaction.connection().execute(_RELATION_MANY, params):
        if row.id in seen:
            continue  # an older grant of the same patient: `resolve` takes the newest only
        seen.add(row.id)
        if (access := _access(user, row, now)) is not None:
            found[row.id] = access
    return found


def _access(user: User, row: Any, now: datetime) -> Access | None:
    """THE decision, from one relation row: self, care team, caregiver, or nothing."""
    grant_id = None
    if row.user_id == user.id:
        relation, scopes = Relation.SELF, SELF_SCOPES
    elif row.role is not None and may_act_as_care_team(user):
        relation = Relation.CARE_TEAM
        scopes = CARE_TEAM_SCOPES if row.is_lead else MEMBER_SCOPES
    elif row.grant_id is not None and (granted := grant_scopes(row, now)) is not None:
        relation, scopes, grant_id = Relation.CAREGIVER, granted, row.grant_id
    else:
        return None
    return Access(
        actor_id=user.id,
        actor_name=user.name,
        actor_kind=user.kind,
        patient_id=row.id,
        patient_name=f"{row.given_name} {row.family_name}",
        patient_user_id=row.user_id,
        relation=relation,
        scopes=scopes,
        patient_timezone=row.timezone,
        patient_birth_date=row.birth_date,
        team_role=row.role if relation is Relation.CARE_TEAM else None,
        grant_id=grant_id,
    )


def own_patient_id(user: User) -> int | None:
    """The patient record a patient account is linked to."""
    return db.session.scalar(select(Patient.id).where(Patient.user_id == user.id))


def patient_view(
    scope: str = Scope.PLAN_READ,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a view taking `patient_id`: sign-in required, relation resolved, scope checked.

    The view receives the resolved `Access` as its first argument instead of
    `patient_id`. No relation answers 404; a relation without the scope, 403.
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(patient_id: int, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            g.patient_id = patient_id  # a refusal is audited naming it (portal/web.py)
            access = resolve(current_user._get_current_object(), patient_id)
            if access is None:
                abort(404)
            g.access = access
            if scope and not access.can(scope):
                raise AccessDenied(scope)
            return view(access, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]
        return wrapper

    return decorator


def wants_json() -> bool:
    """True for the JSON API, whose errors and redirects are JSON."""
    return request.path.startswith("/api/")


# Lists: which patients a clinician may see as care team (panel, inbox, flags).
# The same rule `resolve` applies to one patient, so a list never shows a
# patient whose pages would answer 404, and ending a membership empties both.


def may_act_as_care_team(user: User) -> bool:
    """Whether `user`'s account can hold care-team access at all: an active clinician."""
    return bool(user.is_authenticated and user.is_active and user.kind is UserKind.CLINICIAN)


# (patient_id, role) of every patient the user bound by `care_team_params` may see as
# care team. Built once: lists join to it and add `care_team_params(user)` to their
# parameters (an unbound list fails loudly rather than showing everyone).
CARE_TEAM_PATIENTS: Subquery = (
    select(CareTeamMember.patient_id.label("patient_id"), CareTeamMember.role.label("role"))
    .where(_active_membership(bindparam("care_team_uid")))
    .subquery("care_team_patients")
)


def care_team_params(user: User) -> dict[str, int | None]:
    """The parameters for `CARE_TEAM_PATIENTS`: nobody (NULL) unless an active clinician."""
    return {"care_team_uid": user.id if may_act_as_care_team(user) else None}
