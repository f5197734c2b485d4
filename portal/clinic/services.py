"""The clinician's panel: the patients whose care team they are on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from portal import audit
from portal.access import Relation
from portal.auth.models import User
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from portal.patients import Patient

SORTS = {
    "name": (Patient.family_name, Patient.given_name),
    "updated": (Patient.plan_updated_at.desc(), Patient.family_name),
}


@dataclass(frozen=True)
class PanelRow:
    patient_id: int
    name: str
    family_name: str
    birth_date: object
    role: str
    plan_updated_at: datetime | None
    plan_agreed: bool


def panel(clinician: User, query: str = "", sort: str = "name") -> list[PanelRow]:
    """The clinician's patients, optionally filtered by name; one query plus one audit insert."""
    stmt = (
        select(
            Patient.id,
            Patient.given_name,
            Patient.family_name,
            Patient.birth_date,
            CareTeamMember.role,
            Patient.plan_updated_at,
            Patient.plan_version,
            Patient.plan_agreed_version,
        )
        .join(CareTeamMember, CareTeamMember.patient_id == Patient.id)
        .where(CareTeamMember.user_id == clinician.id, CareTeamMember.ended_at.is_(None))
        .order_by(*SORTS.get(sort, SORTS["name"]))
    )
    for word in query.split()[:4]:
        pattern = f"%{word[:40]}%"
        stmt = stmt.where(
            or_(Patient.given_name.ilike(pattern), Patient.family_name.ilike(pattern))
        )
    rows = [
        PanelRow(
            patient_id=r.id,
            name=f"{r.given_name} {r.family_name}",
            family_name=r.family_name,
            birth_date=r.birth_date,
            role=r.role,
            plan_updated_at=r.plan_updated_at,
            plan_agreed=r.plan_agreed_version is not None
            and r.plan_agreed_version == r.plan_version,
        )
        for r in db.session.execute(stmt)
    ]
    _audit_listing(clinician, rows)
    return rows


def _audit_listing(clinician: User, rows: list[PanelRow]) -> None:
    """One audit row per patient listed, written with the request's commit."""
    audit.record_rows(
        [
            {
                "actor_id": clinician.id,
                "relation": Relation.CARE_TEAM.value,
                "patient_id": row.patient_id,
                "action": "list",
                "object_type": "panel",
                "object_id": None,
            }
            for row in rows
        ]
    )
