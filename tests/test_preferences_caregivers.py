"""Who the patient wants involved: their caregivers by grant, as the team and decisions see."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal import pagecache
from portal.access import Scope
from portal.caregivers.models import Grant
from portal.db import utcnow
from portal.decisions import outcome, services
from portal.decisions.preferences_models import PreferencePerson
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import Clinic

SEES = "Sam Morgan, son — has access to the plan"
GONE = "Sam Morgan, son — no longer has access"


@pytest.fixture()
def family(app):
    clinic = Clinic(app)
    rivera = clinic.clinician("Dr. Maria Rivera")
    alex = clinic.patient("Alex", "Morgan")
    clinic.team(alex, rivera, lead=True)
    sam = clinic.caregiver("Sam Morgan")
    pat = clinic.caregiver("Pat Quinn")
    sams = _grant(app, alex, sam, "Son", (Scope.PLAN_READ, Scope.DECISIONS_READ))
    pats = _grant(app, alex, pat, "Friend", (Scope.PLAN_READ,), revoked=True)
    return clinic, alex, rivera, sam, sams, pats


def _grant(app, patient, caregiver, relationship, scopes, *, revoked=False, days=365) -> int:
    now = utcnow()
    with app.app_context():
        grant = Grant(
            patient_id=patient.id,
            caregiver_id=caregiver.id,
            relationship=relationship,
            scopes=" ".join(sorted(scopes)),
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=days),
            revoked_at=now if revoked else None,
        )
        db.session.add(grant)
        db.session.commit()
        return grant.id


def _people_url(patient) -> str:
    return f"/p/{patient.id}/preferences/people"


def _choose(client, patient, *grant_ids, others=()):
    form = MultiDict([("caregiver", str(g)) for g in grant_ids])
    for n, (name, relationship) in enumerate(others):
        form.add(f"name_{n}", name)
        form.add(f"relationship_{n}", relationship)
    form.add("csrf_token", client.csrf())
    return client.post(_people_url(patient), data=form)


def test_alex_picks_sam_rivera_sees_it_and_a_revoke_shows_at_once(app, family):
    clinic, alex, rivera, sam, sams, _pats = family
    patient = clinic.login(alex.email)
    page = patient.get(_people_url(alex))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'id="caregiver-{sams}"' in html and "Sam Morgan, son" in text_of(page)
    assert "Pat Quinn" not in html  # a revoked grant is not offered

    response = _choose(patient, alex, sams, others=[("Jo Lane", "neighbour")])
    assert response.status_code == 303, text_of(response)
    with app.app_context():
        rows = db.session.execute(
            select(PreferencePerson.name, PreferencePerson.caregiver_grant_id).order_by(
                PreferencePerson.position
            )
        ).all()
    assert [tuple(r) for r in rows] == [("Sam Morgan", sams), ("Jo Lane", None)]

    doctor = clinic.login(rivera.email)
    plan = text_of(doctor.get(f"/p/{alex.id}/plan"))
    assert SEES in plan and "Jo Lane, neighbour" in plan
    helper = clinic.login(sam.email)
    assert SEES in text_of(helper.get(f"/p/{alex.id}/plan"))  # Sam has decisions:read
    api = doctor.get(f"/api/v1/patients/{alex.id}/preferences").get_json()
    assert api["people"][0] == {
        "name": "Sam Morgan",
        "relationship": "son",
        "grant_id": sams,
        "has_access": True,
    }

    # Alex revokes: the kept plan page is made anew (grants are versioned), no cache cleared.
    assert patient.submit(f"/p/{alex.id}/people/{sams}/revoke").status_code == 302
    plan = text_of(doctor.get(f"/p/{alex.id}/plan"))
    assert GONE in plan and SEES not in plan
    assert helper.get(f"/p/{alex.id}/plan").status_code == 404
    api = doctor.get(f"/api/v1/patients/{alex.id}/preferences").get_json()
    assert api["people"][0]["grant_id"] == sams and api["people"][0]["has_access"] is False

    # Alex still sees Sam ticked, marked, and can keep him or drop him.
    form = patient.get(_people_url(alex))
    assert "Sam Morgan, son (no longer has access)" in text_of(form)
    assert _choose(patient, alex, sams).status_code == 303
    assert _choose(patient, alex).status_code == 303
    assert "Sam Morgan" not in text_of(doctor.get(f"/p/{alex.id}/plan"))


def test_a_grant_running_out_shows_on_the_kept_page_with_nothing_written(app, family, monkeypatch):
    clinic, alex, rivera, _sam, sams, _pats = family
    assert _choose(clinic.login(alex.email), alex, sams).status_code == 303
    doctor = clinic.login(rivera.email)
    assert SEES in text_of(doctor.get(f"/p/{alex.id}/plan"))
    later = utcnow() + timedelta(days=400)
    monkeypatch.setattr("portal.pagecache.utcnow", lambda: later)  # the kept page, a year on
    plan = text_of(doctor.get(f"/p/{alex.id}/plan"))
    assert GONE in plan and SEES not in plan


def test_only_the_patients_own_running_grants_can_be_chosen(app, family):
    clinic, alex, _rivera, sam, _sams, pats = family
    other = clinic.patient("Robin", "Hale")
    robins = _grant(app, other, sam, "Friend", (Scope.PLAN_READ,))
    patient = clinic.login(alex.email)
    for grant_id in (pats, robins, 999999, "x"):
        response = _choose(patient, alex, grant_id)
        assert response.status_code == 422, grant_id
        assert "Choose from the people who help you" in text_of(response)
    with app.app_context():
        assert db.session.scalar(select(PreferencePerson.id)) is None  # nothing half-written
    response = patient.api(
        "PUT", f"/api/v1/patients/{alex.id}/preferences", {"people": [{"grant_id": robins}]}
    )
    assert response.status_code == 422


def test_the_api_chooses_a_caregiver_by_grant(app, family):
    clinic, alex, _rivera, _sam, sams, _pats = family
    patient = clinic.login(alex.email)
    response = patient.api(
        "PUT",
        f"/api/v1/patients/{alex.id}/preferences",
        {"people": [{"grant_id": sams}, {"name": "Jo Lane", "relationship": "neighbour"}]},
    )
    assert response.status_code == 200, response.get_json()
    people = response.get_json()["people"]
    assert [(p["name"], p["grant_id"], p["has_access"]) for p in people] == [
        ("Sam Morgan", sams, True),
        ("Jo Lane", None, None),
    ]


def test_who_took_part_offers_the_involved_caregivers_in_one_query(app, family, count_queries):
    clinic, alex, rivera, sam, sams, _pats = family
    patient = clinic.login(alex.email)
    with app.app_context():
        access = clinic._access(rivera.id, alex.id)
        assert [p.name for p in outcome.people(access)] == ["Alex Morgan", "Dr. Maria Rivera"]
    assert _choose(patient, alex, sams).status_code == 303
    with app.app_context():
        access = clinic._access(rivera.id, alex.id)
        with count_queries() as one:
            found = outcome.people(access)
        assert [(p.name, p.role, p.from_team) for p in found] == [
            ("Alex Morgan", "Patient", False),
            ("Dr. Maria Rivera", "Primary care physician", True),
            ("Sam Morgan", "Caregiver, son", False),
        ]
        decision = services.open_decision(
            access,
            {
                "question": "How do we bring your A1c down?",
                "decide_by": (date.today() + timedelta(days=7)).isoformat(),
                "options": [{"title": "Metformin"}, {"title": "Walking more"}],
            },
        )
        db.session.flush()
        chosen = services.option_ids(decision.id)[0]
        outcome.record_outcome(
            access,
            decision.id,
            {"option_id": chosen, "participants": [alex.user.id, rivera.id, sam.id]},
        )
        db.session.commit()
        decision_id = decision.id
    page = text_of(clinic.login(rivera.email).get(f"/p/{alex.id}/decisions/{decision_id}"))
    assert "Sam Morgan (Caregiver, son)" in page

    more = [clinic.caregiver(f"Helper {n}") for n in range(3)]
    grants = [_grant(app, alex, h, "Friend", (Scope.PLAN_READ,)) for h in more]
    assert _choose(patient, alex, sams, *grants).status_code == 303
    with app.app_context():
        access = clinic._access(rivera.id, alex.id)
        with count_queries() as many:
            assert len(outcome.people(access)) == 6
    assert one.count == many.count == 1

    assert patient.submit(f"/p/{alex.id}/people/{sams}/revoke").status_code == 302
    with app.app_context():
        names = [p.name for p in outcome.people(clinic._access(rivera.id, alex.id))]
    assert "Sam Morgan" not in names  # revoked: no longer offered


def test_the_plan_costs_the_same_however_many_are_involved(app, family, count_queries):
    clinic, alex, rivera, _sam, sams, _pats = family
    patient = clinic.login(alex.email)
    doctor = clinic.login(rivera.email)
    more = [clinic.caregiver(f"Helper {n}") for n in range(3)]
    grants = [_grant(app, alex, h, "Friend", (Scope.PLAN_READ,)) for h in more]
    counts = []
    for chosen in ([sams], [sams, *grants]):
        assert _choose(patient, alex, *chosen).status_code == 303
        doctor.get(f"/p/{alex.id}/plan")  # warm the session row
        pagecache.cache_of(app).clear()
        with count_queries() as counter:
            response = doctor.get(f"/p/{alex.id}/plan")
        assert "Helper 2, friend" in text_of(response) or len(chosen) == 1
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


def test_the_demo_involves_sam_through_his_grant(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from portal.auth.models import User

        sam = db.session.scalar(select(User.id).where(User.email == "sam@example.com"))
        row = db.session.execute(
            select(PreferencePerson.name, Grant.caregiver_id, Grant.revoked_at).join(
                Grant, Grant.id == PreferencePerson.caregiver_grant_id
            )
        ).one()
    assert (row.name, row.caregiver_id, row.revoked_at) == ("Sam Morgan", sam, None)


def test_a_caregiver_changing_them_is_offered_only_themself(app, family):
    clinic, alex, _rivera, _sam, _sams, _pats = family
    jo = clinic.caregiver("Jo Lane")
    kim = clinic.caregiver("Kim Lane")
    jos = _grant(app, alex, jo, "Daughter", (Scope.DECISIONS_READ, Scope.DECISIONS_WRITE))
    kims = _grant(app, alex, kim, "Friend", (Scope.PLAN_READ,))
    helper = clinic.login(jo.email)
    page = helper.get(_people_url(alex))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'id="caregiver-{jos}"' in html
    assert "Kim Lane" not in html and "Sam Morgan" not in html  # the patient's to tell
    response = _choose(helper, alex, kims)
    assert response.status_code == 422
    assert _choose(helper, alex, jos).status_code == 303
    shown = text_of(helper.get(f"/p/{alex.id}/preferences"))
    assert "Jo Lane, daughter — has access to CareCircle" in shown  # no plan:read
    # Alex is offered everyone who helps him.
    assert "Kim Lane" in text_of(clinic.login(alex.email).get(_people_url(alex)))
