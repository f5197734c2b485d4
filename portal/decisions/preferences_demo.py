"""Demo: what matters to Alex and how he wants to decide, told in two sittings."""

from __future__ import annotations

from sqlalchemy import select

from portal.caregivers.models import Grant
from portal.decisions import preferences_services as services
from portal.decisions.preferences_inputs import SECTIONS, clean
from portal.demo_context import Demo
from portal.extensions import db


def alex_preferences(demo: Demo) -> None:
    """Alex's preferences, through the service, so their history is real."""
    if demo.patient.given_name != "Alex":
        return
    alex = demo.access("alex@example.com")
    services.save(
        alex,
        clean(
            {
                "what_matters": (
                    "Staying well enough to look after my garden and see my grandkids. "
                    "I don't want to end up in hospital again."
                ),
                "priorities": ["independence", "family", "avoid_hospital"],
                "involvement": "shared",
            },
            ("what_matters", "priorities", "priority_other", "involvement"),
        ),
    )
    services.save(
        alex,
        clean(
            {
                "detail": "some",
                "risk_format": "words",
                "language": "English",
                "interpreter": False,
                "channel": "portal",
                "contact_times": "Weekday mornings",
                "people": [{"grant_id": _sams_grant(demo)}],
            },
            SECTIONS["information"] + SECTIONS["people"],
        ),
        finish=True,
    )


def _sams_grant(demo: Demo) -> int:
    """Sam's grant for Alex, made by the caregivers' demo step (run before this one)."""
    return db.session.scalars(
        select(Grant.id).where(
            Grant.patient_id == demo.patient.id,
            Grant.caregiver_id == demo.users["sam@example.com"].id,
            Grant.revoked_at.is_(None),
        )
    ).one()
