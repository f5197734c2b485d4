"""The demo clinic: accounts and plans that show everything the portal can do.

`seed()` is idempotent: accounts that exist are left alone, and a patient's
demo plan is only written when that patient record is first created. The care
plans are written here; each feature's demo data is a step in its own
`demo.py` (a function of a `Demo`, from `portal.demo_context`), listed in
`STEPS` at the bottom and run, in order, for each newly created patient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select

from portal.admin.demo import seed_admin
from portal.auth.demo import enrol_staff
from portal.auth.models import Discipline, User, UserKind
from portal.auth.services import create_user
from portal.caregivers.demo import caregiver_demo
from portal.careplan import services as plan
from portal.careplan.models import (
    ActivityStatus,
    Assignee,
    CareTeamMember,
    ConcernCategory,
    Sensitivity,
)
from portal.decisions.demo import alex_decisions
from portal.decisions.preferences_demo import alex_preferences
from portal.demo_context import Demo
from portal.extensions import db
from portal.goals.demo import alex_goals, blake_goals
from portal.goals.models import Frequency, GoalCategory, GoalStatus
from portal.notifications.models import Notification
from portal.patients import Patient

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (documented demo password)

CLINICIANS = [
    # email, name, discipline, job title
    ("rivera@example.com", "Dr. Riley Rivera", Discipline.PRIMARY_CARE, "Primary care physician"),
    (
        "lee@example.com",
        "Jordan Lee",
        Discipline.BEHAVIORAL_HEALTH,
        "Behavioral health care manager",
    ),
    ("chen@example.com", "Dr. Casey Chen", Discipline.PRIMARY_CARE, "Primary care physician"),
    ("patel@example.com", "Dr. Morgan Patel", Discipline.PSYCHIATRY, "Psychiatric consultant"),
    ("brooks@example.com", "Taylor Brooks", Discipline.NUTRITION, "Dietitian"),
    ("fox@example.com", "Jamie Fox", Discipline.SOCIAL_WORK, "Social worker"),
    ("kim@example.com", "Avery Kim", Discipline.PHARMACY, "Clinical pharmacist"),
    ("novak@example.com", "Dr. Sasha Novak", Discipline.SPECIALIST, "Endocrinologist"),
]
PATIENTS = [
    # email, given, family, birth date
    ("alex@example.com", "Alex", "Morgan", date(1968, 4, 12)),
    ("blake@example.com", "Blake", "Ortiz", date(1990, 9, 3)),
]
CAREGIVERS = [
    ("sam@example.com", "Sam Morgan"),
    ("pat@example.com", "Pat Quinn"),
]


def _account(email: str, name: str, kind: UserKind, **fields) -> tuple[User, bool]:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user, False
    return create_user(email, DEMO_PASSWORD, name, kind, **fields), True


def seed() -> int:
    """Create whatever part of the demo clinic is missing; returns how many accounts were new."""
    users: dict[str, User] = {}
    created = 0
    for email, name, discipline, title in CLINICIANS:
        users[email], new = _account(
            email, name, UserKind.CLINICIAN, discipline=discipline, job_title=title
        )
        created += new
    for email, name in CAREGIVERS:
        users[email], new = _account(email, name, UserKind.CAREGIVER)
        created += new
    admin, new = seed_admin(DEMO_PASSWORD)
    users[admin.email], created = admin, created + new
    enrol_staff(users)  # demo clinicians' authenticator secret (portal/auth/demo.py)
    new_patients = []
    for email, given, family, born in PATIENTS:
        users[email], new = _account(email, f"{given} {family}", UserKind.PATIENT)
        created += new
        patient = db.session.scalar(select(Patient).where(Patient.user_id == users[email].id))
        if patient is None:
            patient = Patient(
                given_name=given, family_name=family, birth_date=born, user_id=users[email].id
            )
            db.session.add(patient)
            db.session.flush()
            new_patients.append(patient)
    first_new_notice = db.session.scalar(select(func.max(Notification.id))) or 0
    for patient in new_patients:
        demo = Demo(users, patient)
        for step in STEPS:
            step(demo)
    # Seeding is nobody's news: drop the notices the demo's own edits queued.
    db.session.execute(delete(Notification).where(Notification.id > first_new_notice))
    db.session.flush()
    return created


def _team(demo: Demo, members: list[tuple[str, str, Discipline, bool]]) -> None:
    for email, role, discipline, lead in members:
        db.session.add(
            CareTeamMember(
                patient_id=demo.patient.id,
                user_id=demo.users[email].id,
                role=role,
                discipline=discipline,
                is_lead=lead,
            )
        )
    db.session.flush()


def alex_plan(demo: Demo) -> None:
    """Alex: an integrated plan across primary care, behavioral health and social needs."""
    if demo.patient.given_name != "Alex":
        return
    _team(
        demo,
        [
            ("rivera@example.com", "Primary care physician", Discipline.PRIMARY_CARE, True),
            (
                "lee@example.com",
                "Behavioral health care manager",
                Discipline.BEHAVIORAL_HEALTH,
                False,
            ),
            ("patel@example.com", "Psychiatric consultant", Discipline.PSYCHIATRY, False),
            ("brooks@example.com", "Dietitian", Discipline.NUTRITION, False),
            ("fox@example.com", "Social worker", Discipline.SOCIAL_WORK, False),
            ("kim@example.com", "Clinical pharmacist", Discipline.PHARMACY, False),
            ("novak@example.com", "Endocrinologist", Discipline.SPECIALIST, False),
        ],
    )
    rivera, lee, fox = (
        demo.access(e) for e in ("rivera@example.com", "lee@example.com", "fox@example.com")
    )
    diabetes = plan.add_item(
        rivera,
        "concern",
        {
            "title": "Type 2 diabetes",
            "category": ConcernCategory.PHYSICAL,
            "detail": "Blood sugar has been high this year (A1c 8.1%). "
            "We are working on it together.",
        },
    )
    plan.add_item(
        rivera,
        "concern",
        {
            "title": "High blood pressure",
            "category": ConcernCategory.PHYSICAL,
            "detail": "Usually around 145/90. Aim: under 130/80.",
        },
    )
    low_mood = plan.add_item(
        lee,
        "concern",
        {
            "title": "Low mood and worry",
            "category": ConcernCategory.MENTAL,
            "detail": "Feeling down most days since losing work in the spring.",
            "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
        },
    )
    housing = plan.add_item(
        fox,
        "concern",
        {
            "title": "Rent is hard to cover",
            "category": ConcernCategory.SOCIAL,
            "detail": "Behind on rent two months; sometimes skipping meals to make it work.",
        },
    )
    walk = plan.add_item(
        rivera,
        "goal",
        {
            "title": "Walk 30 minutes a day",
            "category": GoalCategory.PHYSICAL_ACTIVITY,
            "why": "I want to keep up with my grandkids at the park.",
            "measure": "minutes",
            "target_value": Decimal(30),
            "frequency": Frequency.DAILY,
            "status": GoalStatus.ACTIVE,
            "concern_id": diabetes.id,
        },
    )
    walk.proposed_by_id = demo.users["alex@example.com"].id
    walk.agreed_by_id = demo.users["rivera@example.com"].id
    plan.add_item(
        rivera,
        "goal",
        {
            "title": "Eat vegetables with two meals a day",
            "category": GoalCategory.NUTRITION,
            "why": "Feel less tired in the afternoon.",
            "measure": "servings",
            "target_value": Decimal(2),
            "frequency": Frequency.DAILY,
            "status": GoalStatus.ACTIVE,
            "concern_id": diabetes.id,
        },
    )
    plan.add_item(
        lee,
        "goal",
        {
            "title": "Check in with my mood each evening",
            "category": GoalCategory.MOOD,
            "why": "Notice the good days as well as the bad.",
            "measure": "mood",
            "frequency": Frequency.DAILY,
            "status": GoalStatus.ACTIVE,
            "concern_id": low_mood.id,
            "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
        },
    )
    soon = date.today() + timedelta(days=10)
    for access, values in [
        (
            rivera,
            {
                "title": "Check A1c and kidney function",
                "discipline": Discipline.PRIMARY_CARE,
                "assignee": Assignee.TEAM,
                "assignee_user_id": demo.users["rivera@example.com"].id,
                "due_on": soon,
                "detail": "Blood test at the next visit.",
            },
        ),
        (
            lee,
            {
                "title": "Weekly phone check-in about mood",
                "discipline": Discipline.BEHAVIORAL_HEALTH,
                "assignee": Assignee.TEAM,
                "assignee_user_id": demo.users["lee@example.com"].id,
                "status": ActivityStatus.IN_PROGRESS,
                "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
                "concern_id": low_mood.id,
                "detail": "Jordan calls on Tuesdays.",
            },
        ),
        (
            lee,
            {
                "title": "Review antidepressant dose with the psychiatric consultant",
                "discipline": Discipline.PSYCHIATRY,
                "assignee": Assignee.TEAM,
                "assignee_user_id": demo.users["patel@example.com"].id,
                "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
                "concern_id": low_mood.id,
            },
        ),
        (
            fox,
            {
                "title": "Apply for emergency rental assistance",
                "discipline": Discipline.SOCIAL_WORK,
                "assignee": Assignee.PATIENT,
                "due_on": date.today() + timedelta(days=5),
                "concern_id": housing.id,
                "detail": "Jamie will help fill in the form by phone.",
            },
        ),
        (
            fox,
            {
                "title": "Connect with the food pantry on Elm Street",
                "discipline": Discipline.SOCIAL_WORK,
                "assignee": Assignee.TEAM,
                "assignee_user_id": demo.users["fox@example.com"].id,
                "concern_id": housing.id,
            },
        ),
        (
            rivera,
            {
                "title": "Plan meals with the dietitian",
                "discipline": Discipline.NUTRITION,
                "assignee": Assignee.TEAM,
                "assignee_user_id": demo.users["brooks@example.com"].id,
            },
        ),
        (
            rivera,
            {
                "title": "Medication review: metformin and blood pressure pills",
                "discipline": Discipline.PHARMACY,
                "assignee": Assignee.TEAM,
                "assignee_user_id": demo.users["kim@example.com"].id,
            },
        ),
        (
            rivera,
            {
                "title": "Bring your blood pressure readings to the next visit",
                "discipline": Discipline.PRIMARY_CARE,
                "assignee": Assignee.CAREGIVER,
            },
        ),
    ]:
        values.setdefault("status", ActivityStatus.PLANNED)
        plan.add_item(access, "activity", values)


def blake_plan(demo: Demo) -> None:
    """Blake: a smaller plan with a different team."""
    if demo.patient.given_name != "Blake":
        return
    _team(
        demo,
        [
            ("chen@example.com", "Primary care physician", Discipline.PRIMARY_CARE, True),
            ("rivera@example.com", "Covering physician", Discipline.PRIMARY_CARE, False),
        ],
    )
    chen = demo.access("chen@example.com")
    asthma = plan.add_item(
        chen,
        "concern",
        {
            "title": "Asthma",
            "category": ConcernCategory.PHYSICAL,
            "detail": "Worse in cold weather.",
        },
    )
    plan.add_item(
        chen,
        "goal",
        {
            "title": "Sleep 7 hours a night",
            "category": GoalCategory.SLEEP,
            "why": "Fewer night-time coughs when rested.",
            "measure": "sleep_hours",
            "target_value": Decimal(7),
            "frequency": Frequency.DAILY,
            "status": GoalStatus.ACTIVE,
            "concern_id": asthma.id,
        },
    )
    plan.add_item(
        chen,
        "activity",
        {
            "title": "Use the preventer inhaler every morning",
            "discipline": Discipline.PRIMARY_CARE,
            "assignee": Assignee.PATIENT,
            "status": ActivityStatus.IN_PROGRESS,
        },
    )


# Run for each newly created demo patient, in order: the plans first, then goals on them.
STEPS: tuple[Callable[[Demo], None], ...] = (
    alex_plan,
    blake_plan,
    alex_goals,
    blake_goals,
    alex_decisions,
    caregiver_demo,  # before the preferences: Alex involves Sam through his grant
    alex_preferences,  # portal/decisions: what matters to Alex
)
