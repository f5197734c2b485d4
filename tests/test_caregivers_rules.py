"""The guardian rules on both sides of each birthday, and how resolve() reads a grant."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from portal.access import Relation, Scope, resolve
from portal.auth.models import User
from portal.caregivers.guardians import adult_on, age_on, guardian_scopes, is_minor
from portal.caregivers.models import Grant
from portal.db import utcnow
from portal.extensions import db
from portal.patients import Patient
from tests.factories import Clinic
from tests.mailbox import smtp  # noqa: F401  (fixture)

BORN = date(2010, 6, 15)
ALL = frozenset({"plan:read", "goals:read", "sensitive"})


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (date(2022, 6, 14), 11),
        (date(2022, 6, 15), 12),
        (date(2028, 6, 14), 17),
        (date(2028, 6, 15), 18),
    ],
)
def test_age_turns_on_the_birthday_itself(day, age):
    assert age_on(BORN, day) == age


def test_a_leap_day_birthday_counts_from_the_first_of_march():
    born = date(2008, 2, 29)
    assert age_on(born, date(2026, 2, 28)) == 17
    assert age_on(born, date(2026, 3, 1)) == 18
    assert adult_on(born) == date(2026, 3, 1)


def test_the_guardian_sees_sensitive_items_until_the_sensitive_age():
    assert guardian_scopes(ALL, BORN, date(2022, 6, 14), 12) == ALL
    assert guardian_scopes(ALL, BORN, date(2022, 6, 15), 12) == ALL - {"sensitive"}
    # configurable: a clinic that sets 13 keeps them visible a year longer
    assert guardian_scopes(ALL, BORN, date(2022, 6, 15), 13) == ALL


def test_the_guardian_grant_ends_on_the_eighteenth_birthday():
    assert guardian_scopes(ALL, BORN, date(2028, 6, 14), 12) == ALL - {"sensitive"}
    assert guardian_scopes(ALL, BORN, date(2028, 6, 15), 12) is None
    assert not is_minor(BORN, date(2028, 6, 15)) and is_minor(BORN, date(2028, 6, 14))


def test_no_birth_date_no_guardian():
    assert guardian_scopes(ALL, None, date(2026, 1, 1), 12) is None


@pytest.fixture()
def granted(app):
    clinic = Clinic(app)
    patient = clinic.patient("Alex", "Morgan")
    helper = clinic.caregiver("Sam Morgan")
    with app.app_context():
        now = utcnow()
        grant = Grant(
            patient_id=patient.id,
            caregiver_id=helper.id,
            relationship="Son",
            scopes="plan:read goals:read plan:edit",  # plan:edit can never be delegated
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=30),
        )
        db.session.add(grant)
        db.session.commit()
        grant_id = grant.id
    return patient, helper, grant_id


def test_resolve_gives_exactly_the_granted_scopes_in_one_query(app, granted, count_queries):
    patient, helper, grant_id = granted
    with app.app_context():
        user = db.session.get(User, helper.id)
        with count_queries() as q:
            access = resolve(user, patient.id)
        assert q.count == 1
        assert access.relation is Relation.CAREGIVER and access.grant_id == grant_id
        assert access.scopes == {Scope.PLAN_READ, Scope.GOALS_READ}
        assert not access.sees_sensitive
        assert access.attribution() == "Sam Morgan (caregiver) for Alex Morgan"
        own = resolve(db.session.get(User, patient.user.id), patient.id)
        assert access.viewer_key() != own.viewer_key()  # a caregiver's kept page is its own


def test_a_grant_stops_at_revocation_and_at_its_end(app, granted):
    patient, helper, grant_id = granted
    with app.app_context():
        user = db.session.get(User, helper.id)
        db.session.execute(update(Grant).where(Grant.id == grant_id).values(include_sensitive=True))
        assert resolve(user, patient.id).sees_sensitive
        db.session.execute(update(Grant).where(Grant.id == grant_id).values(ends_at=utcnow()))
        assert resolve(user, patient.id) is None
        db.session.execute(
            update(Grant)
            .where(Grant.id == grant_id)
            .values(ends_at=utcnow() + timedelta(days=1), revoked_at=utcnow())
        )
        assert resolve(user, patient.id) is None
        db.session.rollback()


def test_a_kept_plan_page_is_never_served_across_viewers(app, granted):
    """Alex's kept plan shows a sensitive item; Sam's, kept after it, never does."""
    from portal.careplan import services as plan
    from portal.careplan.models import Sensitivity

    patient, helper, grant_id = granted
    clinic = Clinic(app)
    doctor = clinic.clinician()
    clinic.team(patient, doctor)
    with app.app_context():
        team = resolve(db.session.get(User, doctor.id), patient.id)
        plan.add_item(
            team,
            "concern",
            {
                "title": "Drinking more than planned",
                "category": "mental",
                "sensitivity": Sensitivity.SUBSTANCE_USE,
            },
        )
        db.session.commit()
    own = clinic.login(patient.email)
    sam = clinic.login(helper.email)
    for _ in range(2):  # the second round is served from the kept pages
        assert "Drinking more than planned" in own.get(f"/p/{patient.id}/plan").text
        page = sam.get(f"/p/{patient.id}/plan")
        assert page.status_code == 200 and "Drinking more than planned" not in page.text
        assert "Acting for:" in page.text and "Your information" not in page.text
    with app.app_context():
        db.session.execute(update(Grant).where(Grant.id == grant_id).values(include_sensitive=True))
        db.session.commit()
    assert "Drinking more than planned" in sam.get(f"/p/{patient.id}/plan").text


def test_the_care_team_sees_who_the_caregivers_are_and_what_each_may_do(demo):
    page = demo.login("rivera@example.com").get(f"/p/{demo.alex}/team")
    text = page.get_data(as_text=True)
    assert "Sam Morgan" in text and "See my care plan" in text and "Log progress for me" in text
    assert "Cannot see sensitive items" in text
    assert "Pat Quinn" not in text  # expired
    sam = demo.login("sam@example.com").get(f"/p/{demo.alex}/team")
    assert sam.status_code == 200 and "Log progress for me" not in sam.get_data(as_text=True)


def test_caregivers_granted_notifications_hear_of_replies_but_never_of_hidden_items(app):
    from portal.notifications.models import Notification

    clinic = Clinic(app)
    doctor = clinic.clinician()
    patient = clinic.patient("Alex", "Morgan")
    clinic.team(patient, doctor)
    told, untold = clinic.caregiver("Sam Morgan"), clinic.caregiver("Pat Quinn")
    walk = clinic.goal(patient, "Walk after lunch")
    secret = clinic.goal(patient, "Drink less")
    with app.app_context():
        now = utcnow()
        for person, scopes in ((told, "plan:read goals:read notify"), (untold, "plan:read")):
            db.session.add(
                Grant(
                    patient_id=patient.id,
                    caregiver_id=person.id,
                    relationship="Family",
                    scopes=scopes,
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(days=30),
                )
            )
        from portal.goals.models import Goal

        db.session.execute(
            update(Goal).where(Goal.id == secret).values(sensitivity="substance_use")
        )
        db.session.commit()
    clinic.message(patient, walk, "Well done this week", by=doctor)
    clinic.message(patient, secret, "How are the evenings?", by=doctor)
    with app.app_context():
        from sqlalchemy import select

        notices = db.session.execute(select(Notification.user_id, Notification.url)).all()
    # Reply notices land on the newest message (#latest).
    assert (told.id, f"/p/{patient.id}/goals/{walk}#latest") in notices
    assert not [n for n in notices if n.user_id == untold.id]
    hidden = f"/p/{patient.id}/goals/{secret}#latest"
    assert not [n for n in notices if n.user_id == told.id and n.url == hidden]
    assert len([n for n in notices if n.user_id == patient.user.id]) == 2


@pytest.mark.parametrize("page", ["/p/{pid}/plan", "/p/{pid}/goals"])
def test_a_caregivers_page_costs_the_statements_the_patients_does(demo, count_queries, page):
    """The plan page's benchmark holds for a caregiver: the grant rides on resolve's one query."""
    counts = {}
    for who in ("alex@example.com", "sam@example.com"):
        client = demo.login(who)
        url = page.format(pid=demo.alex)
        client.get(url)
        client.get(url)  # kept now, and the session row fresh
        with count_queries() as q:
            assert client.get(url).status_code == 200
        counts[who] = q.count
    assert counts["sam@example.com"] == counts["alex@example.com"], counts


def test_a_patient_who_is_also_a_guardian_switches_between_plans(demo):
    """Blake (a patient) is Robin's guardian in the demo: own home, Robin's, and the switcher."""
    blake = demo.login("blake@example.com")
    home = blake.get(f"/p/{demo.blake}/").get_data(as_text=True)
    assert "People you help" in home and "Act for Robin Ortiz" in home
    switcher = blake.get("/helping").get_data(as_text=True)
    assert "My own plan" in switcher and "Robin Ortiz" in switcher
    with demo.app.app_context():
        robin = db.session.scalar(select(Patient.id).where(Patient.given_name == "Robin"))
    robins = blake.get(f"/p/{robin}/plan").get_data(as_text=True)
    assert "Acting for: <strong>Robin Ortiz</strong>" in robins
    assert "Asthma at football practice" in robins
    assert "Feeling anxious at school" not in robins  # Robin is 14: past the sensitive age


def test_a_caregiver_steps_down_and_the_patient_is_told(demo, smtp):  # noqa: F811
    sam = demo.login("sam@example.com")
    assert sam.get(f"/p/{demo.alex}/step-down").status_code == 200
    assert sam.submit(f"/p/{demo.alex}/step-down").status_code == 302
    assert sam.get(f"/p/{demo.alex}/plan").status_code == 404
    mail = smtp.one_to("alex@example.com")
    assert mail.message["Subject"] == "Sam Morgan no longer helps you in CareCircle"


def test_staff_link_a_guardian_who_accepts_with_their_own_account(demo, smtp):  # noqa: F811
    with demo.app.app_context():
        robin = db.session.scalar(select(Patient.id).where(Patient.given_name == "Robin"))
    chen = demo.login("chen@example.com")
    assert chen.get(f"/p/{robin}/guardian").status_code == 200
    response = chen.submit(
        f"/p/{robin}/guardian",
        {"name": "Jo Ortiz", "email": "jo@example.com", "relationship": "Father"},
    )
    assert response.status_code == 302
    mail = smtp.one_to("jo@example.com")
    assert "guardian" in mail.text and "Asthma" not in mail.text
    link = re.search(r"http://localhost(/invitation/[\w-]+)", mail.text).group(1)
    demo.app.test_client_class = type(chen)
    jo = demo.app.test_client()
    jo.get(link)
    done = jo.submit(
        "/invitation/register",
        {"name": "Jo Ortiz", "email": "jo@example.com", "password": "demo-password-2026"},
    )
    assert done.status_code == 302
    plan = jo.get(f"/p/{robin}/plan").get_data(as_text=True)
    assert "Asthma at football practice" in plan and "Feeling anxious at school" not in plan
    # Staff may not link a guardian to an adult.
    adult = chen.get(f"/p/{demo.blake}/guardian")
    assert adult.status_code == 200 and "no guardian can be linked" in adult.text
    refused = chen.submit(
        f"/p/{demo.blake}/guardian",
        {"name": "Jo Ortiz", "email": "jo2@example.com", "relationship": "Father"},
    )
    assert refused.status_code == 422


def test_a_minor_cannot_end_their_guardians_access_from_the_people_page(app):
    """Clinic staff manage a guardian's link; the patient's People page shows it without actions."""
    from portal.caregivers import services
    from portal.caregivers.models import GrantKind

    clinic = Clinic(app)
    patient = clinic.patient("Robin", "Ortiz")
    parent = clinic.caregiver("Jo Ortiz")
    with app.app_context():
        db.session.execute(
            update(Patient)
            .where(Patient.id == patient.id)
            .values(birth_date=date.today() - timedelta(days=14 * 366))
        )
        now = utcnow()
        grant = Grant(
            patient_id=patient.id,
            caregiver_id=parent.id,
            kind=GrantKind.GUARDIAN,
            relationship="Father",
            scopes="plan:read",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=365),
        )
        db.session.add(grant)
        db.session.commit()
        own = resolve(db.session.get(User, patient.user.id), patient.id)
        with pytest.raises(services.CaregivingError):
            services.revoke(own, grant.id)
        db.session.rollback()
    page = clinic.login(patient.email).get(f"/p/{patient.id}/people")
    assert "Jo Ortiz" in page.text and "guardian" in page.text and "End access" not in page.text
