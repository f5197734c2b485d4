"""Small factories: just the people and rows a test needs, made through the real services.

Seeding the whole demo clinic costs a second or more per test and hides what a
test depends on. `Clinic(app)` makes one thing at a time instead, through the
same services the app uses (accounts, care team, goals, entries, messages),
each committed in its own transaction, and returns plain ids:

    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park")
    patient = clinic.patient("Robin", "Hale")
    clinic.team(patient, doctor, role="Primary care physician")
    goal = clinic.goal(patient, "Walk after lunch", measure="minutes")
    clinic.entry(patient, goal, value=20, note="Round the block")
    client = clinic.login(patient.email)
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask

from portal.access import Access, resolve
from portal.auth import mfa
from portal.auth.demo import DEMO_TOTP_SECRET
from portal.auth.models import Discipline, User, UserKind
from portal.auth.services import create_user
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from portal.goals import entries, lifecycle, threads
from portal.patients import Patient
from tests.conftest import DEMO_PASSWORD, PortalClient, second_step

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Person:
    """A user made by a factory: their account id, email and name."""

    id: int
    email: str
    name: str


@dataclass(frozen=True)
class PatientRecord:
    """A patient made by a factory: the record's id and the account that signs in to it."""

    id: int
    user: Person

    @property
    def email(self) -> str:
        return self.user.email


class Clinic:
    """Makes people and rows one at a time, each in its own committed transaction."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    @contextmanager
    def _session(self) -> Iterator[None]:
        with self.app.app_context():
            try:
                yield
                db.session.commit()
            finally:
                db.session.remove()

    def _account(self, name: str, kind: UserKind, **fields: Any) -> Person:
        email = f"{kind.value}{next(_numbers)}-{uuid.uuid4().hex[:6]}@example.com"
        user = create_user(email, DEMO_PASSWORD, name, kind, **fields)
        return Person(user.id, email, name)

    def clinician(
        self,
        name: str = "Dr. Ada Park",
        discipline: Discipline = Discipline.PRIMARY_CARE,
        job_title: str = "Primary care physician",
    ) -> Person:
        """A clinician of the practice (on no team yet)."""
        with self._session():
            person = self._account(
                name, UserKind.CLINICIAN, discipline=discipline, job_title=job_title
            )
            # Clinicians must sign in with a second factor: the demo's authenticator secret.
            mfa.demo_enrol(person.id, DEMO_TOTP_SECRET)
            return person

    def caregiver(self, name: str = "Sam Morgan") -> Person:
        """A family caregiver's own account (with no grant yet)."""
        with self._session():
            return self._account(name, UserKind.CAREGIVER)

    def patient(self, given: str = "Robin", family: str = "Hale") -> PatientRecord:
        """A patient record with the account the patient signs in with."""
        with self._session():
            user = self._account(f"{given} {family}", UserKind.PATIENT)
            patient = Patient(given_name=given, family_name=family, user_id=user.id)
            db.session.add(patient)
            db.session.flush()
            return PatientRecord(patient.id, user)

    def team(
        self,
        patient: PatientRecord,
        clinician: Person,
        role: str = "Primary care physician",
        discipline: Discipline = Discipline.PRIMARY_CARE,
        lead: bool = False,
    ) -> int:
        """Put `clinician` on `patient`'s care team (`lead`: who adds and removes members).

        A row, not `add_team_member`: a team's first member has nobody to add them.
        """
        with self._session():
            member = CareTeamMember(
                patient_id=patient.id,
                user_id=clinician.id,
                role=role,
                discipline=discipline,
                is_lead=lead,
            )
            db.session.add(member)
            db.session.flush()
            return member.id

    def goal(
        self,
        patient: PatientRecord,
        title: str = "Walk after lunch",
        *,
        measure: str = "minutes",
        target: str | None = "20",
        by: Person | None = None,
        **fields: Any,
    ) -> int:
        """A goal the patient sets (or, `by` a clinician on the team, suggests); its id."""
        data = {"title": title, "measure": measure, "target_value": target, **fields}
        with self._session():
            access = self._access((by or patient.user).id, patient.id)
            return lifecycle.create_goal(access, data).id

    def entry(
        self, patient: PatientRecord, goal: int, value: Any = "20", note: str = "", **fields: Any
    ) -> int:
        """Progress the patient logs on a goal today; its id."""
        data = {"value": value, "note": note, **fields}
        with self._session():
            access = self._access(patient.user.id, patient.id)
            entry, _created = entries.add_entry(access, goal, data, str(uuid.uuid4()))
            return entry.id

    def message(
        self, patient: PatientRecord, goal: int, body: str, by: Person | None = None
    ) -> int:
        """A message in a goal's thread from the patient or (`by`) a team member; its id."""
        with self._session():
            access = self._access((by or patient.user).id, patient.id)
            return threads.post_message(access, goal, body).id

    def login(self, email: str) -> PortalClient:
        """A client signed in as `email`, through the sign-in form."""
        self.app.test_client_class = PortalClient
        client = self.app.test_client()
        response = client.submit("/login", {"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        second_step(client, email, response)
        return client

    def _access(self, user_id: int, patient_id: int) -> Access | None:
        return resolve(db.session.get(User, user_id), patient_id)
