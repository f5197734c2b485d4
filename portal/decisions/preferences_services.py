"""The patient's preferences: reading, changing (every change kept), skipping, seen marks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from portal import audit, transaction
from portal.access import CARE_TEAM_PATIENTS, Access, Scope, care_team_params
from portal.auth.models import User
from portal.caregivers.models import Grant
from portal.db import utcnow
from portal.decisions.preferences_inputs import FIELDS
from portal.decisions.preferences_models import (
    FlowState,
    PatientPreferences,
    PreferenceChange,
    PreferencePerson,
    PreferenceReview,
)
from portal.decisions.preferences_people import with_grants
from portal.decisions.preferences_text import change_lines, one_line
from portal.extensions import db
from portal.patients import Patient


class Conflict(Exception):
    """Someone else changed the preferences since they were read."""

    def __init__(self) -> None:
        super().__init__(
            "These were changed somewhere else while you were editing. "
            "Look at them again, then make your change."
        )


@dataclass
class Preferences:
    """A patient's preferences as the pages and the API show them."""

    patient_id: int
    version: int = 0
    what_matters: str = ""
    priorities: list[str] = field(default_factory=list)
    priority_other: str = ""
    involvement: str | None = None
    detail: str | None = None
    risk_format: str | None = None
    language: str = ""
    interpreter: bool | None = None
    channel: str | None = None
    contact_times: str = ""
    # {name, relationship, grant_id}; a caregiver's also says how their grant stands
    # (see `_person`), so the pages can say whether they have access now.
    people: list[dict[str, Any]] = field(default_factory=list)
    flow: str | None = None
    updated_at: datetime | None = None
    updated_by_name: str = ""
    unseen: bool = False  # changed by someone else since this clinician marked them seen

    @property
    def filled(self) -> bool:
        return any(self.values()[name] not in (None, "", []) for name in FIELDS)

    @property
    def asked(self) -> bool:
        """Whether the first-time questions are behind the patient (answered or skipped)."""
        return self.flow is not None or self.filled

    @property
    def line(self) -> str:
        return one_line(self)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def _stored(row: PatientPreferences | Any, name: str) -> Any:
    """A column's value as JSON compares it (enums as their strings)."""
    value = getattr(row, name)
    return value.value if hasattr(value, "value") else value


_PID, _UID = bindparam("pid"), bindparam("uid")
_CAREGIVER = aliased(User)
_COLUMNS = [c for c in PatientPreferences.__table__.c if c.key != "updated_by_id"]
_OTHERS_CHANGED = exists().where(
    PreferenceChange.patient_id == _PID,
    PreferenceChange.version > func.coalesce(PreferenceReview.seen_version, 0),
    or_(PreferenceChange.actor_id.is_(None), PreferenceChange.actor_id != _UID),
)
# One statement for everything the pages show: the row, the reader's seen mark
# and each person (one row per person, at most PEOPLE_MAX), whatever the history.
_CARD = (
    select(
        Patient.id.label("pid"),
        *_COLUMNS,
        _OTHERS_CHANGED.label("unseen"),
        PreferencePerson.name,
        PreferencePerson.relationship,
        PreferencePerson.caregiver_grant_id,
        _CAREGIVER.name.label("caregiver_name"),
        Grant.relationship.label("grant_relationship"),
        Grant.scopes.label("grant_scopes"),
        Grant.starts_at.label("grant_starts_at"),
        Grant.ends_at.label("grant_ends_at"),
        Grant.revoked_at.label("grant_revoked_at"),
    )
    .select_from(Patient)
    .outerjoin(PatientPreferences, PatientPreferences.patient_id == Patient.id)
    .outerjoin(
        PreferenceReview,
        and_(PreferenceReview.patient_id == Patient.id, PreferenceReview.user_id == _UID),
    )
    .outerjoin(PreferencePerson, PreferencePerson.patient_id == Patient.id)
    .outerjoin(
        Grant,
        and_(
            Grant.id == PreferencePerson.caregiver_grant_id,
            Grant.patient_id == PreferencePerson.patient_id,
        ),
    )
    .outerjoin(_CAREGIVER, _CAREGIVER.id == Grant.caregiver_id)
    .where(Patient.id == _PID)
    .order_by(PreferencePerson.position, PreferencePerson.id)
)


def _read(access: Access) -> Preferences:
    rows = transaction.connection().execute(
        _CARD, {"pid": access.patient_id, "uid": access.actor_id}
    )
    rows = rows.all()
    first = rows[0]
    prefs = Preferences(patient_id=access.patient_id)
    if first.patient_id is not None:
        for column in _COLUMNS:
            if column.key != "patient_id":
                setattr(prefs, column.key, _stored(first, column.key))
        prefs.priorities = list(first.priorities or [])
    prefs.people = [_person(r) for r in rows if r.name]
    prefs.unseen = access.is_care_team and bool(first.unseen)
    return prefs


def _person(row: Any) -> dict[str, Any]:
    """One person to involve; a caregiver named as their account and grant say now.

    `access` is "revoked" (decided here: revoking writes the versioned grants
    table, so a kept page is made anew), or "granted" with `starts_at` and
    `ends_at`, which the page compares with the time of each response, since
    nothing is written when a grant runs out.
    """
    person: dict[str, Any] = {
        "name": row.name,
        "relationship": row.relationship,
        "grant_id": row.caregiver_grant_id,
    }
    if row.caregiver_grant_id is None or row.grant_ends_at is None:
        person["grant_id"] = None  # the grant is gone: their name stays, in words
        return person
    person["name"] = row.caregiver_name or row.name
    person["relationship"] = (row.grant_relationship or row.relationship).lower()
    person["sees_plan"] = Scope.PLAN_READ.value in (row.grant_scopes or "").split()
    if row.grant_revoked_at is not None:
        person["access"] = "revoked"
    else:
        person["access"] = "granted"
        person["starts_at"], person["ends_at"] = row.grant_starts_at, row.grant_ends_at
    return person


def has_access(person: dict[str, Any], now: datetime) -> bool:
    """Whether a caregiver to involve can use CareCircle for the patient at `now`."""
    return person.get("access") == "granted" and person["starts_at"] <= now < person["ends_at"]


def load(access: Access) -> Preferences:
    """The patient's preferences (blank when never given), audited as read; one query."""
    access.require(Scope.DECISIONS_READ)
    audit.record(access, "read", "preferences", access.patient_id)
    return _read(access)


def card(access: Access) -> Preferences | None:
    """What the plan page shows first, or None when this access may not read preferences.

    Called while the kept plan page renders; the plan view audits the read.
    """
    if not access.can(Scope.DECISIONS_READ):
        return None
    return _read(access)


def save(
    access: Access,
    values: dict[str, Any],
    *,
    expected_version: int | None = None,
    finish: bool = False,
) -> Preferences:
    """Store checked `values` (see preferences_inputs.clean); keep what changed, who, when."""
    access.require(Scope.DECISIONS_WRITE)
    row = db.session.get(PatientPreferences, access.patient_id)
    if row is None:
        row = PatientPreferences(patient_id=access.patient_id, version=0, priorities=[])
        db.session.add(row)
    if expected_version is not None and expected_version != row.version:
        raise Conflict()
    people = _people(access.patient_id)
    if "people" in values:
        values = {**values, "people": with_grants(access, values["people"], people)}
    changes = {}
    for name, value in values.items():
        before = people if name == "people" else _stored(row, name)
        if before != value:
            changes[name] = [before, value]
    if finish:
        row.flow = FlowState.DONE
    if changes:
        _apply(access, row, changes)
    audit.record(access, "update" if changes else "read", "preferences", access.patient_id)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except (IntegrityError, StaleDataError):
        raise Conflict() from None
    return _read(access)


def _apply(access: Access, row: PatientPreferences, changes: dict[str, list[Any]]) -> None:
    for name, (_before, after) in changes.items():
        if name == "people":
            _replace_people(access.patient_id, after)
        else:
            setattr(row, name, after)
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()
    row.updated_by_id, row.updated_by_name = access.actor_id, access.actor_name
    db.session.add(
        PreferenceChange(
            patient_id=access.patient_id,
            version=row.version,
            at=row.updated_at,
            actor_id=access.actor_id,
            actor_name=access.actor_name,
            actor_relation=access.relation.value,
            changes=changes,
        )
    )


def _people(patient_id: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(
            PreferencePerson.name,
            PreferencePerson.relationship,
            PreferencePerson.caregiver_grant_id,
        )
        .where(PreferencePerson.patient_id == patient_id)
        .order_by(PreferencePerson.position, PreferencePerson.id)
    )
    return [
        {"name": r.name, "relationship": r.relationship, "grant_id": r.caregiver_grant_id}
        for r in rows
    ]


def _replace_people(patient_id: int, people: list[dict[str, Any]]) -> None:
    db.session.execute(delete(PreferencePerson).where(PreferencePerson.patient_id == patient_id))
    db.session.add_all(
        PreferencePerson(
            patient_id=patient_id,
            position=n,
            name=person["name"],
            relationship=person["relationship"],
            caregiver_grant_id=person.get("grant_id"),
        )
        for n, person in enumerate(people)
    )


def skip(access: Access) -> None:
    """Remember "skip for now": the first-time questions are not asked again."""
    access.require(Scope.DECISIONS_WRITE)
    row = db.session.get(PatientPreferences, access.patient_id)
    if row is None:
        row = PatientPreferences(patient_id=access.patient_id, version=0, priorities=[])
        db.session.add(row)
    if row.flow is None:
        row.flow = FlowState.SKIPPED
    audit.record(access, "skip", "preferences", access.patient_id)


def mark_seen(access: Access) -> None:
    """A clinician has looked at the preferences as they are now."""
    access.require(Scope.DECISIONS_READ)
    audit.record(access, "seen", "preferences", access.patient_id)
    if not access.is_care_team:
        return  # only the team is told "updated since you last looked"
    version = db.session.scalar(
        select(PatientPreferences.version).where(PatientPreferences.patient_id == access.patient_id)
    )
    review = db.session.get(PreferenceReview, (access.actor_id, access.patient_id))
    if review is None:
        db.session.add(
            PreferenceReview(
                user_id=access.actor_id, patient_id=access.patient_id, seen_version=version or 0
            )
        )
    elif review.seen_version != (version or 0):
        review.seen_version, review.seen_at = version or 0, utcnow()


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    at: datetime
    actor_name: str
    actor_relation: str
    changes: dict[str, list[Any]]

    @property
    def lines(self) -> list[str]:
        return change_lines(self.changes)


def history(access: Access, limit: int = 200) -> list[HistoryEntry]:
    """Every change to the preferences, newest first (who, as what, when, what); one query."""
    access.require(Scope.DECISIONS_READ)
    audit.record(access, "read", "preference_history", access.patient_id)
    rows = db.session.execute(
        select(
            PreferenceChange.version,
            PreferenceChange.at,
            PreferenceChange.actor_name,
            PreferenceChange.actor_relation,
            PreferenceChange.changes,
        )
        .where(PreferenceChange.patient_id == access.patient_id)
        .order_by(PreferenceChange.version.desc())
        .limit(limit)
    )
    return [HistoryEntry(*row) for row in rows]


@dataclass(frozen=True)
class ListLine:
    """What a list row (panel, inbox) shows about a patient's preferences."""

    line: str
    unseen: bool


# What a preferences line reads; `one_line` takes any object with these attributes.
_LINE_FIELDS = ("involvement", "risk_format", "detail", "interpreter", "language", "priorities")
_LINE_COLUMNS = [
    *(PatientPreferences.__table__.c[name] for name in _LINE_FIELDS),
    PatientPreferences.priority_other,
]


def _unseen(patient_id: Any, uid: Any) -> Any:
    """Whether anyone but `uid` changed the preferences since `uid` last marked them seen."""
    # Correlated explicitly: `patient_id` belongs to the enclosing query, which may be a
    # subquery (the inbox's page). Left to auto-correlation, that subquery was repeated
    # inside this one, which then read the first of the page's reviews for every row.
    seen = (
        select(PreferenceReview.seen_version)
        .where(PreferenceReview.patient_id == patient_id, PreferenceReview.user_id == uid)
        .correlate_except(PreferenceReview)
        .scalar_subquery()
    )
    return (
        exists()
        .where(
            PreferenceChange.patient_id == patient_id,
            PreferenceChange.version > func.coalesce(seen, 0),
            or_(PreferenceChange.actor_id.is_(None), PreferenceChange.actor_id != uid),
        )
        .correlate_except(PreferenceChange, PreferenceReview)
    )


def list_line_columns(patient_id: Any, uid: Any) -> list[Any]:
    """Columns a list query adds, after an outer join of `PatientPreferences` on `patient_id`,
    so each row carries its preferences line (read with `list_line(row)`): no second query.

    The query must already keep to the clinician's patients (`CARE_TEAM_PATIENTS`).
    """
    return [
        PatientPreferences.patient_id.label("prefs_patient_id"),
        *_LINE_COLUMNS,
        _unseen(patient_id, uid).label("prefs_unseen"),
    ]


def list_line(row: Any) -> ListLine | None:
    """The preferences line of a row read with `list_line_columns`; None when nothing to show."""
    if row.prefs_patient_id is None:
        return None
    line = one_line(row)
    return ListLine(line, bool(row.prefs_unseen)) if line or row.prefs_unseen else None


_LIST = (
    select(
        *list_line_columns(PatientPreferences.patient_id, _UID),
    )
    .join(CARE_TEAM_PATIENTS, CARE_TEAM_PATIENTS.c.patient_id == PatientPreferences.patient_id)
    .where(PatientPreferences.patient_id.in_(bindparam("ids", expanding=True)))
)


def list_lines(clinician: User, patient_ids: Iterable[int]) -> dict[int, ListLine]:
    """One-line summaries for the patients a clinician's list shows (panel, inbox); one query.

    Only patients on the clinician's care team now (`CARE_TEAM_PATIENTS`), whatever is asked.
    """
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    params = {"ids": ids, "uid": clinician.id, **care_team_params(clinician)}
    found = {}
    for row in db.session.execute(_LIST, params):
        if (line := list_line(row)) is not None:
            found[row.prefs_patient_id] = line
    return found
