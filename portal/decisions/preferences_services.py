"""The patient's preferences: reading, changing (every change kept), skipping, seen marks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal import audit
from portal.access import CARE_TEAM_PATIENTS, Access, Scope, care_team_params
from portal.auth.models import User
from portal.db import utcnow
from portal.decisions.preferences_inputs import FIELDS
from portal.decisions.preferences_models import (
    FlowState,
    PatientPreferences,
    PreferenceChange,
    PreferencePerson,
    PreferenceReview,
)
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
    people: list[dict[str, str]] = field(default_factory=list)
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
    )
    .select_from(Patient)
    .outerjoin(PatientPreferences, PatientPreferences.patient_id == Patient.id)
    .outerjoin(
        PreferenceReview,
        and_(PreferenceReview.patient_id == Patient.id, PreferenceReview.user_id == _UID),
    )
    .outerjoin(PreferencePerson, PreferencePerson.patient_id == Patient.id)
    .where(Patient.id == _PID)
    .order_by(PreferencePerson.position, PreferencePerson.id)
)


def _read(access: Access) -> Preferences:
    rows = db.session.connection().execute(
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
    prefs.people = [{"name": r.name, "relationship": r.relationship} for r in rows if r.name]
    prefs.unseen = access.is_care_team and bool(first.unseen)
    return prefs


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


def _people(patient_id: int) -> list[dict[str, str]]:
    rows = db.session.execute(
        select(PreferencePerson.name, PreferencePerson.relationship)
        .where(PreferencePerson.patient_id == patient_id)
        .order_by(PreferencePerson.position, PreferencePerson.id)
    )
    return [{"name": r.name, "relationship": r.relationship} for r in rows]


def _replace_people(patient_id: int, people: list[dict[str, str]]) -> None:
    db.session.execute(delete(PreferencePerson).where(PreferencePerson.patient_id == patient_id))
    db.session.add_all(
        PreferencePerson(patient_id=patient_id, position=n, **person)
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


_LIST = (
    select(
        PatientPreferences,
        exists()
        .where(
            PreferenceChange.patient_id == PatientPreferences.patient_id,
            PreferenceChange.version > func.coalesce(PreferenceReview.seen_version, 0),
            or_(PreferenceChange.actor_id.is_(None), PreferenceChange.actor_id != _UID),
        )
        .label("unseen"),
    )
    .join(CARE_TEAM_PATIENTS, CARE_TEAM_PATIENTS.c.patient_id == PatientPreferences.patient_id)
    .outerjoin(
        PreferenceReview,
        and_(
            PreferenceReview.patient_id == PatientPreferences.patient_id,
            PreferenceReview.user_id == _UID,
        ),
    )
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
    for prefs, unseen in db.session.execute(_LIST, params):
        line = one_line(prefs)
        if line or unseen:
            found[prefs.patient_id] = ListLine(line, bool(unseen))
    return found
