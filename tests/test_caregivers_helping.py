"""The switcher (/helping): a fixed number of statements however many people one helps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update

from portal.access import resolve, resolve_many
from portal.auth.models import User
from portal.caregivers.models import Grant, GrantKind
from portal.careplan.models import Sensitivity
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal
from portal.patients import Patient
from tests.conftest import text_of
from tests.factories import Clinic


def _grant(app, patient_id: int, caregiver_id: int, scopes: str, **fields) -> int:
    with app.app_context():
        now = utcnow()
        grant = Grant(
            patient_id=patient_id,
            caregiver_id=caregiver_id,
            relationship="Family",
            scopes=scopes,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=30),
            **fields,
        )
        db.session.add(grant)
        db.session.commit()
        return grant.id


def _helping(app, people: int):
    """A caregiver who helps `people` patients, each with a walk logged today and a secret."""
    clinic = Clinic(app)
    helper = clinic.caregiver("Sam Morgan")
    for n in range(people):
        patient = clinic.patient(f"Person{n}", "Morgan")
        walk = clinic.goal(patient, f"Walk {n}", measure="minutes", target="20")
        clinic.entry(patient, walk, value="25")
        clinic.goal(patient, f"Swim {n}", measure="minutes", target="30")
        secret = clinic.goal(patient, f"Secret {n}", measure="done", target=None)
        with app.app_context():
            db.session.execute(
                update(Goal).where(Goal.id == secret).values(sensitivity=Sensitivity.SUBSTANCE_USE)
            )
            db.session.commit()
        _grant(app, patient.id, helper.id, "plan:read goals:read")
    return clinic.login(helper.email)


def _statements(client, count_queries) -> int:
    client.get("/helping")  # the session row fresh, as on any later page
    with count_queries() as q:
        response = client.get("/helping")
    assert response.status_code == 200
    return q.count, text_of(response)


def test_helping_one_person_or_five_costs_the_same_statements(app, count_queries):
    one, one_text = _statements(_helping(app, 1), count_queries)
    assert "Walk 0 ✓ Logged today" in one_text and "Swim 0 Not logged today" in one_text
    with app.app_context():
        db.session.remove()
    five, five_text = _statements(_helping(app, 5), count_queries)
    for n in range(5):
        assert f"Person{n} Morgan" in five_text and f"Walk {n} ✓ Logged today" in five_text
        assert f"Secret {n}" not in five_text  # hidden items leave no trace
    assert five == one, (one, five)


@pytest.mark.parametrize("age", [10, 14, 19])
def test_resolve_many_decides_as_resolve_does(app, age):
    """The batched resolve is the same rule: self, team, grants, guardians by age, revoked."""
    clinic = Clinic(app)
    doctor = clinic.clinician()
    sam = clinic.caregiver("Sam Morgan")
    own = clinic.patient("Sam", "Own")
    helped = clinic.patient("Alex", "Morgan")
    minor = clinic.patient("Robin", "Ortiz")
    revoked = clinic.patient("Pat", "Quinn")
    stranger = clinic.patient("Blake", "Ortiz")
    clinic.team(helped, doctor)
    _grant(app, helped.id, sam.id, "plan:read")
    _grant(app, helped.id, sam.id, "plan:read goals:read")  # the newer grant wins
    _grant(app, minor.id, sam.id, "plan:read", kind=GrantKind.GUARDIAN, include_sensitive=True)
    _grant(app, revoked.id, sam.id, "plan:read", revoked_at=utcnow())
    with app.app_context():
        born = date.today().replace(year=date.today().year - age) - timedelta(days=3)
        db.session.execute(update(Patient).where(Patient.id == minor.id).values(birth_date=born))
        db.session.execute(
            update(Patient).where(Patient.id == own.id).values(user_id=None)
        )  # a record of no account: nobody's self
        db.session.commit()
        ids = [own.id, helped.id, minor.id, revoked.id, stranger.id, 999999]
        for user_id in (sam.id, doctor.id, own.user.id):
            user = db.session.get(User, user_id)
            one_by_one = {pid: resolve(user, pid) for pid in ids}
            expected = {pid: a for pid, a in one_by_one.items() if a is not None}
            assert resolve_many(user, ids) == expected
        many = resolve_many(db.session.get(User, sam.id), ids)
        assert set(many) == ({helped.id, minor.id} if age < 18 else {helped.id})
        assert "goals:read" in many[helped.id].scopes
