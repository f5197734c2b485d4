"""The clinician's panel: the patients whose care team they are on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from portal import audit
from portal.access import CARE_TEAM_PATIENTS, care_team_params
from portal.auth.models import User
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
    """The clinician's patients, optionally filtered by name; one query and one audit event."""
    team = CARE_TEAM_PATIENTS
    stmt = (
        select(
            Patient.id,
            Patient.given_name,
            Patient.family_name,
            Patient.birth_date,
            team.c.role,
            Patient.plan_updated_at,
            Patient.plan_version,
            Patient.plan_agreed_version,
        )
        .select_from(team)
        .join(Patient, Patient.id == team.c.patient_id)
        .order_by(*SORTS.get(sort, SORTS["name"]))
    )
    words = query.split()[:4]
    for word in words:
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
        for r in db.session.execute(stmt, care_team_params(clinician))
    ]
    listing = "panel_search" if words else "panel"
    audit.record_list(clinician.id, listing, (row.patient_id for row in rows))
    return rows
