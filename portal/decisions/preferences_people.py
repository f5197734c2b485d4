"""The patient's caregivers as people to involve in decisions: choosing them, offering them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.access import Access
from portal.auth.models import User
from portal.caregivers.models import Grant
from portal.caregivers.reading import helpers_of
from portal.db import utcnow
from portal.extensions import db
from portal.goals.inputs import Invalid


def with_grants(
    access: Access, people: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Caregivers named from their grant: one running now, or one already chosen before.

    A grant that ended stays chosen while the patient keeps it (the team is
    told they no longer have access); a new choice must be running now.
    """
    wanted = [p["grant_id"] for p in people if p.get("grant_id") is not None]
    if not wanted:
        return people
    kept = {p["grant_id"]: p for p in stored if p.get("grant_id") is not None}
    now = utcnow()
    rows = db.session.execute(
        select(Grant.id, Grant.relationship, Grant.revoked_at, Grant.starts_at, Grant.ends_at)
        .add_columns(User.name)
        .join(User, User.id == Grant.caregiver_id)
        .where(Grant.patient_id == access.patient_id, Grant.id.in_(wanted))
    )
    found = {}
    for row in rows:
        running = row.revoked_at is None and row.starts_at <= now < row.ends_at
        offered = access.is_self or row.id == access.grant_id  # as caregiver_choices
        if (running and offered) or row.id in kept:
            found[row.id] = {
                "name": row.name,
                "relationship": row.relationship,
                "grant_id": row.id,
            }
    if set(wanted) - set(found):
        raise Invalid({"people": "Choose from the people who help you now"})
    return [found[p["grant_id"]] if p.get("grant_id") is not None else p for p in people]


@dataclass(frozen=True)
class CaregiverChoice:
    """A caregiver the people form offers as a checkbox."""

    grant_id: int
    name: str
    relationship: str
    ended: bool  # chosen before, grant since ended: offered so it can be kept or dropped


def caregiver_choices(access: Access, people: list[dict[str, Any]]) -> list[CaregiverChoice]:
    """The patient's caregivers now, then those in `people` whose grant has ended; one query.

    A caregiver changing them for the patient is offered only themself and those
    the patient already chose: who else helps is the patient's to tell.
    """
    now = utcnow()
    chosen = {_int(p.get("grant_id")) for p in people}
    choices = [
        CaregiverChoice(h.grant_id, h.name, h.relationship, False)
        for h in helpers_of(access.patient_id, now)
        if access.is_self or h.grant_id == access.grant_id or h.grant_id in chosen
    ]
    offered = {c.grant_id for c in choices}
    for person in people:
        grant_id = _int(person.get("grant_id"))
        if grant_id is not None and grant_id not in offered and person.get("name"):
            offered.add(grant_id)
            choices.append(
                CaregiverChoice(grant_id, person["name"], person.get("relationship", ""), True)
            )
    return choices


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
