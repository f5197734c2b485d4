"""What a demo seed step is given: the demo accounts by email and the patient being seeded.

`portal/demo.py` creates the accounts and patients, then runs each step, a
function of a `Demo`, for every newly created patient; features keep their
steps in their own `demo.py` (`portal/goals/demo.py`) and import only this,
so the seeding and the features' demo data never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.access import Access, resolve
from portal.auth.models import User
from portal.patients import Patient


@dataclass
class Demo:
    """What a seed step needs: the accounts by email and the patient being seeded."""

    users: dict[str, User]
    patient: Patient

    def access(self, email: str) -> Access | None:
        """How the account with `email` stands toward the patient (None: no relation)."""
        return resolve(self.users[email], self.patient.id)
