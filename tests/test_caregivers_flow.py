"""Done when (issue 12): a new caregiver, invited by mail, acting for Alex, then revoked.

Alex invites a caregiver from "People who help me"; the invitation arrives at
the test SMTP server; the caregiver accepts with an account of their own, logs
a walk for Alex, and never sees a sensitive item on any page, API answer,
chart, count or offline copy; Alex revokes, and the caregiver's next request
in the same session gets nothing. Pat, whose grant expired, sees nothing.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from portal.caregivers.models import Grant
from portal.careplan import services as plan
from portal.careplan.models import Sensitivity
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal, ProgressEntry
from tests.conftest import DEMO_PASSWORD, PortalClient, text_of
from tests.factories import Clinic
from tests.mailbox import smtp  # noqa: F401  (fixture)

SECRET_GOAL = "Cut down to two drinks a week"
SECRET_CONCERN = "Low mood since the winter"
SECRET_ACTIVITY = "Talk therapy every Tuesday"
SECRETS = (SECRET_GOAL, SECRET_CONCERN, SECRET_ACTIVITY, "sensitive", "hidden item")


def _alex_with_secrets(app):
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park")
    alex = clinic.patient("Alex", "Morgan")
    clinic.team(alex, doctor)
    walk = clinic.goal(alex, "Walk after lunch", measure="minutes", target="20")
    secret = clinic.goal(alex, SECRET_GOAL, measure="done", target=None)
    clinic.entry(alex, secret, value=None, done="1")
    with app.app_context():
        # Marked sensitive after the fact: the plan revision that added it, written
        # before, still names it and must not show it to the caregiver.
        db.session.execute(
            update(Goal).where(Goal.id == secret).values(sensitivity=Sensitivity.SUBSTANCE_USE)
        )
        team = clinic._access(doctor.id, alex.id)
        plan.add_item(
            team,
            "concern",
            {
                "title": SECRET_CONCERN,
                "category": "mental",
                "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
            },
        )
        plan.add_item(
            team,
            "activity",
            {
                "title": SECRET_ACTIVITY,
                "discipline": "behavioral_health",
                "sensitivity": Sensitivity.BEHAVIORAL_HEALTH,
            },
        )
        db.session.commit()
    return clinic, doctor, alex, walk, secret


def _invite(client: PortalClient, patient_id: int, email: str, **extra) -> None:
    ends = (utcnow() + timedelta(days=200)).date().isoformat()
    data = {
        "name": "Sam Morgan",
        "email": email,
        "relationship": "Son",
        "choices": ["plan", "goals", "log", "messages"],
        "ends_on": ends,
        **extra,
    }
    response = client.submit(f"/p/{patient_id}/people/invite", data)
    assert response.status_code == 302, text_of(response)


def _link(mail) -> str:
    return re.search(r"http://localhost(/invitation/[\w-]+)", mail.text).group(1)


def _shows_no_secret(response) -> None:
    body = response.get_data(as_text=True)
    for secret in SECRETS[:3]:
        assert secret not in body, f"{secret!r} leaked on {response.request.path}"


def test_a_caregiver_is_invited_acts_for_alex_and_is_revoked(app, smtp):  # noqa: F811
    clinic, _doctor, alex, walk, secret = _alex_with_secrets(app)
    patient = clinic.login(alex.email)
    email = f"sam-{uuid.uuid4().hex[:6]}@example.com"
    _invite(patient, alex.id, email)

    mail = smtp.one_to(email)
    assert "Alex Morgan invited you" in mail.message["Subject"]
    for secret in (*SECRETS[:3], "Walk after lunch"):
        assert secret not in mail.text and secret not in mail.html
    path = _link(mail)

    app.test_client_class = PortalClient
    sam = app.test_client()
    assert sam.get(path).status_code == 302
    page = sam.get("/invitation")
    assert page.status_code == 200 and "Help Alex Morgan" in text_of(page)
    response = sam.submit(
        "/invitation/register",
        {"name": "Sam Morgan", "email": email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 302, text_of(response)
    assert response.location.endswith(f"/p/{alex.id}/")
    assert sam.get(path).status_code == 302 and sam.get("/invitation").status_code == 410

    home = sam.get(f"/p/{alex.id}/")
    assert home.status_code == 200
    assert "Acting for: Alex Morgan" in text_of(home) and "Walk after lunch" in text_of(home)
    pages = [
        f"/p/{alex.id}/",
        f"/p/{alex.id}/plan",
        f"/p/{alex.id}/plan/history",
        f"/p/{alex.id}/team",
        f"/p/{alex.id}/goals",
        f"/p/{alex.id}/goals/{walk}",
        f"/api/v1/patients/{alex.id}/goals",
        f"/api/v1/patients/{alex.id}/goals/{walk}",
        f"/api/v1/patients/{alex.id}/goals/{walk}/messages",
    ]
    for url in pages:
        response = sam.get(url)
        assert response.status_code == 200, url
        _shows_no_secret(response)
    # The sensitive goal is not there at all: not a page, not an API answer.
    assert sam.get(f"/p/{alex.id}/goals/{secret}").status_code == 404
    assert sam.get(f"/api/v1/patients/{alex.id}/goals/{secret}").status_code == 404
    listed = sam.get(f"/api/v1/patients/{alex.id}/goals").get_json()
    assert [g["title"] for g in listed["goals"]] == ["Walk after lunch"]

    # Sam logs a walk for Alex; it is stored as Sam's, for Alex.
    logged = sam.submit(
        f"/p/{alex.id}/goals/{walk}/entries",
        {"value": "25", "idempotency_key": str(uuid.uuid4())},
    )
    assert logged.status_code == 303
    with app.app_context():
        entry = db.session.scalar(select(ProgressEntry).where(ProgressEntry.goal_id == walk))
        sam_id = db.session.scalar(select(Grant.caregiver_id))
        assert entry.created_by_id == sam_id and entry.value == 25
    # Clinicians see who logged it.
    doctor_view = clinic.login(_doctor.email).get(f"/p/{alex.id}/goals/{walk}")
    assert "Sam Morgan (caregiver) for Alex Morgan" in text_of(doctor_view)

    # What Sam may not do answers 403; the clinician's side is never reached.
    assert sam.get(f"/p/{alex.id}/plan/concern/new").status_code == 403
    assert sam.get(f"/p/{alex.id}/people").status_code == 403
    assert sam.get("/clinic/").status_code in (403, 404)

    # Alex revokes; Sam's next request in the same session finds nothing.
    with app.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    assert patient.get(f"/p/{alex.id}/people/{grant_id}/revoke").status_code == 200
    assert patient.submit(f"/p/{alex.id}/people/{grant_id}/revoke").status_code == 302
    for url in pages:
        response = sam.get(url)
        assert response.status_code == 404, url
        assert "Alex" not in response.get_data(as_text=True)
    smtp.deliver()
    ended = smtp.to(email)[-1]
    assert ended.message["Subject"] == "Your access to Alex Morgan's information has ended"
    for secret in SECRETS[:3]:
        assert secret not in ended.text


def test_pat_with_an_expired_grant_sees_nothing_of_alex(app):
    clinic, _doctor, alex, walk, _secret = _alex_with_secrets(app)
    pat = clinic.caregiver("Pat Quinn")
    with app.app_context():
        now = utcnow()
        db.session.add(
            Grant(
                patient_id=alex.id,
                caregiver_id=pat.id,
                relationship="Friend",
                scopes="plan:read goals:read goals:log messages",
                starts_at=now - timedelta(days=400),
                ends_at=now - timedelta(days=1),
            )
        )
        db.session.commit()
    client = clinic.login(pat.email)
    for url in (
        f"/p/{alex.id}/",
        f"/p/{alex.id}/plan",
        f"/p/{alex.id}/goals/{walk}",
        f"/api/v1/patients/{alex.id}/goals",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Alex" not in response.get_data(as_text=True)
    helping = client.get("/helping")
    assert helping.status_code == 200 and "Alex" not in text_of(helping)


def test_alex_is_reminded_once_two_weeks_before_a_grant_ends_and_renewing_resets_it(
    app,
    smtp,  # noqa: F811
):
    clinic, _doctor, alex, _walk, _secret = _alex_with_secrets(app)
    sam = clinic.caregiver("Sam Morgan")
    now = utcnow()
    with app.app_context():
        grant = Grant(
            patient_id=alex.id,
            caregiver_id=sam.id,
            relationship="Son",
            scopes="plan:read",
            starts_at=now - timedelta(days=100),
            ends_at=now + timedelta(days=20),
        )
        db.session.add(grant)
        db.session.commit()
        grant_id = grant.id
    runner = app.test_cli_runner()
    assert "of 0 grants" in runner.invoke(args=["caregivers", "remind"]).output  # 20 days left
    with app.app_context():
        db.session.execute(
            update(Grant).where(Grant.id == grant_id).values(ends_at=now + timedelta(days=13))
        )
        db.session.commit()
    assert "of 1 grants" in runner.invoke(args=["caregivers", "remind"]).output
    assert "of 0 grants" in runner.invoke(args=["caregivers", "remind"]).output  # once
    mail = smtp.one_to(alex.email)
    assert mail.message["Subject"] == "Sam Morgan's access ends soon"
    assert f"/p/{alex.id}/people" in mail.text and "Walk" not in mail.text
    # Renewing from the People page makes the new end date remind again.
    patient = clinic.login(alex.email)
    ends = (now + timedelta(days=300)).date().isoformat()
    page = patient.submit(
        f"/p/{alex.id}/people/{grant_id}", {"choices": ["plan", "goals"], "ends_on": ends}
    )
    assert page.status_code == 302, text_of(page)
    with app.app_context():
        renewed = db.session.get(Grant, grant_id)
        assert renewed.reminded_at is None and renewed.ends_at > now + timedelta(days=290)
        assert "goals:read" in renewed.scope_set
    smtp.deliver()
    changed = smtp.to(sam.email)
    assert changed and "changed what you can do" in changed[-1].message["Subject"]


def test_someone_with_an_account_signs_in_to_accept(app, smtp):  # noqa: F811
    clinic, _doctor, alex, _walk, _secret = _alex_with_secrets(app)
    helper = clinic.caregiver("Jo Lane")
    _invite(clinic.login(alex.email), alex.id, helper.email)
    path = _link(smtp.one_to(helper.email))
    app.test_client_class = PortalClient
    jo = app.test_client()
    jo.get(path)
    to_login = jo.submit("/invitation")
    assert to_login.status_code == 302 and "/login" in to_login.location
    signed_in = jo.submit(to_login.location, {"email": helper.email, "password": DEMO_PASSWORD})
    assert signed_in.status_code == 302
    assert jo.get(signed_in.location).status_code == 302  # the link, back into this session
    page = jo.get("/invitation")
    assert "Accept as Jo Lane" in text_of(page)
    accepted = jo.submit("/invitation")
    assert accepted.location.endswith(f"/p/{alex.id}/")
    home = text_of(jo.get(accepted.location))
    assert "Today for Alex Morgan" in home and "Acting for: Alex Morgan" in home
    # The patient cannot accept an invitation to their own record with their own account.
    own = clinic.login(alex.email)
    _invite(own, alex.id, "someone@example.com")
    own.get(_link(smtp.one_to("someone@example.com")))
    refused = own.submit("/invitation")
    assert refused.status_code == 302
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Grant).where(Grant.caregiver_id == alex.user.id)
            )
            == 0
        )
