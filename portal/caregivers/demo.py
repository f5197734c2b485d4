"""Demo caregivers: Sam helps Alex, Pat's grant for Alex has expired, Blake is a minor's guardian.

A seed step (see `portal/demo_context.py`): run for each newly created demo
patient, it adds what belongs to that patient. Robin Ortiz, 14, has no
account of their own; Blake, a patient too, is Robin's guardian, so the demo
shows someone who switches between their own plan and a person they help.
"""

from __future__ import annotations

from datetime import date, timedelta

from portal.access import CAREGIVER_SCOPES, Scope
from portal.auth.models import Discipline
from portal.caregivers.guardians import adult_on
from portal.caregivers.models import Grant, GrantKind
from portal.caregivers.services import end_of
from portal.careplan import services as plan
from portal.careplan.models import CareTeamMember, ConcernCategory, Sensitivity
from portal.db import utcnow
from portal.demo_context import Demo
from portal.extensions import db
from portal.patients import Patient

SAM_SCOPES = (Scope.PLAN_READ, Scope.GOALS_READ, Scope.GOALS_LOG, Scope.MESSAGES)
MINOR_AGE = 14


def caregiver_demo(demo: Demo) -> None:
    """Sam's and Pat's grants for Alex; Robin, a minor, with Blake as guardian."""
    if demo.patient.given_name == "Alex":
        _alex_caregivers(demo)
    elif demo.patient.given_name == "Blake":
        _minor_with_guardian(demo)


def _alex_caregivers(demo: Demo) -> None:
    now = utcnow()
    alex = demo.users["alex@example.com"]
    db.session.add_all(
        [
            Grant(
                patient_id=demo.patient.id,
                caregiver_id=demo.users["sam@example.com"].id,
                relationship="Son",
                scopes=" ".join(sorted(SAM_SCOPES)),
                include_sensitive=False,
                starts_at=now,
                ends_at=end_of(now.date() + timedelta(days=365)),
                created_by_id=alex.id,
            ),
            Grant(  # a year's access that ended last month
                patient_id=demo.patient.id,
                caregiver_id=demo.users["pat@example.com"].id,
                relationship="Friend",
                scopes=" ".join(sorted(SAM_SCOPES)),
                include_sensitive=False,
                starts_at=now - timedelta(days=395),
                ends_at=now - timedelta(days=30),
                created_by_id=alex.id,
            ),
        ]
    )
    db.session.flush()


def _minor_with_guardian(demo: Demo) -> None:
    today = date.today()
    born = today.replace(year=today.year - MINOR_AGE) - timedelta(days=40)
    robin = Patient(given_name="Robin", family_name="Ortiz", birth_date=born)
    db.session.add(robin)
    db.session.flush()
    chen = demo.users["chen@example.com"]
    db.session.add(
        CareTeamMember(
            patient_id=robin.id,
            user_id=chen.id,
            role="Primary care physician",
            discipline=Discipline.PRIMARY_CARE,
            is_lead=True,
        )
    )
    db.session.flush()
    team = Demo(demo.users, robin).access("chen@example.com")
    plan.add_item(
        team,
        "concern",
        {"title": "Asthma at football practice", "category": ConcernCategory.PHYSICAL},
    )
    plan.add_item(  # hidden from the guardian: Robin is over 12
        team,
        "concern",
        {
            "title": "Feeling anxious at school",
            "category": ConcernCategory.MENTAL,
            "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
        },
    )
    db.session.add(
        Grant(
            patient_id=robin.id,
            caregiver_id=demo.users["blake@example.com"].id,
            kind=GrantKind.GUARDIAN,
            relationship="Parent",
            scopes=" ".join(sorted(CAREGIVER_SCOPES)),
            include_sensitive=True,
            starts_at=utcnow(),
            ends_at=end_of(adult_on(born) - timedelta(days=1)),
            created_by_id=chen.id,
        )
    )
    db.session.flush()
