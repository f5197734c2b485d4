"""Give Dr. Rivera a 200-patient panel whose goals all wait for a reply (bench only).

Run inside the benchmark's environment after `seed-demo`:
`python benchmarks/seed_panel.py 200 [WRITERS]`. Each patient logs one entry
through the real goals service, so the inbox state is exactly what patients'
logging produces. The first WRITERS patients (default 0) can sign in as
panel<n>@example.com with BENCH_PASSWORD (the demo password): the entry POST
benchmark posts as each of them, on their own goal. The others have no
password and never sign in.
"""

from __future__ import annotations

import os
import sys
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from portal import create_app
from portal.access import resolve
from portal.auth.models import Discipline, User, UserKind
from portal.auth.services import hash_password
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from portal.goals import entries as goals
from portal.goals.models import Frequency, Goal, GoalCategory, GoalStatus
from portal.patients import Patient


def seed_panel(size: int, writers: int = 0) -> None:
    rivera = db.session.scalar(select(User).where(User.email == "rivera@example.com"))
    # One hash for every writer: hashing is slow by design and signing in is not measured.
    writer_hash = hash_password(os.environ.get("BENCH_PASSWORD", "demo-password-2026"))
    for n in range(size):
        user = User(
            email=f"panel{n}@example.com",
            # "!" matches no password: that patient never signs in.
            password_hash=writer_hash if n < writers else "!",
            name=f"Panel Patient {n}",
            kind=UserKind.PATIENT,
        )
        db.session.add(user)
        db.session.flush()
        patient = Patient(given_name="Panel", family_name=f"Patient {n:03d}", user_id=user.id)
        db.session.add(patient)
        db.session.flush()
        db.session.add(
            CareTeamMember(
                patient_id=patient.id,
                user_id=rivera.id,
                role="Primary care physician",
                discipline=Discipline.PRIMARY_CARE,
            )
        )
        goal = Goal(
            patient_id=patient.id,
            title="Walk every day",
            category=GoalCategory.PHYSICAL_ACTIVITY,
            measure="minutes",
            target_value=Decimal(20),
            frequency=Frequency.DAILY,
            status=GoalStatus.ACTIVE,
        )
        db.session.add(goal)
        db.session.flush()
        access = resolve(user, patient.id)
        goals.add_entry(access, goal.id, {"value": "15"}, str(uuid.uuid4()))
    db.session.commit()


if __name__ == "__main__":
    app = create_app()
    with app.app_context():
        seed_panel(
            int(sys.argv[1]) if len(sys.argv) > 1 else 200,
            int(sys.argv[2]) if len(sys.argv) > 2 else 0,
        )
