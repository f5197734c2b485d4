"""Enrolment as the clinic meets it: an administrator or a clinician enrols a patient,
the patient activates from the mail and lands on their plan.

Every mail is read from a real SMTP server (tests/mailbox.py).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from portal.audit.models import AuditEvent
from portal.auth import mfa
from portal.auth.demo import DEMO_TOTP_SECRET
from portal.auth.models import User, UserKind
from portal.auth.services import create_user
from portal.auth.tokens import AccountToken, TokenPurpose
from portal.careplan.models import CareTeamMember
from portal.db import utcnow
from portal.extensions import db
from portal.mail.models import OutboxMail
from portal.patients import Patient
from tests.conftest import DEMO_PASSWORD, PortalClient, text_of
from tests.factories import Clinic
from tests.mailbox import smtp  # noqa: F401  (the fixture)

LINK = re.compile(r"http://localhost/activate/[A-Za-z0-9_-]+")
NEW_PASSWORD = "tea on the porch at seven"
ADMIN = "admin@example.org"


def make_admin(app, email: str = ADMIN) -> int:
    with app.app_context():
        user_id = create_user(email, DEMO_PASSWORD, "Robin Hale", UserKind.ADMIN).id
        # Administrators must sign in with a second factor: the demo's authenticator secret.
        mfa.demo_enrol(user_id, DEMO_TOTP_SECRET)
        db.session.commit()
        return user_id


def as_admin(app) -> tuple[PortalClient, int]:
    """A signed-in administrator, and a clinician they can name to lead a team."""
    make_admin(app)
    lead = Clinic(app).clinician("Dr. Lee Lead")
    return Clinic(app).login(ADMIN), lead.id


def enrol_form(**overrides) -> dict:
    form = {
        "given_name": "Dana",
        "family_name": "Reyes",
        "birth_day": "27",
        "birth_month": "3",
        "birth_year": "1968",
        "email": "dana@example.net",
    }
    form.update(overrides)
    return form


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _link(smtp, address: str) -> str:  # noqa: F811
    mail = smtp.one_to(address)
    link = LINK.search(mail.text).group(0)
    assert link in mail.html
    return link.removeprefix("http://localhost")


def test_an_administrator_enrols_a_patient_who_activates_and_lands_on_the_plan(app, smtp):  # noqa: F811
    admin, lead = as_admin(app)
    page = admin.get("/patients/new")
    assert page.status_code == 200 and "Dr. Lee Lead" in text_of(page)
    done = admin.submit("/patients/new", enrol_form(lead_id=lead))
    assert done.status_code == 302 and done.headers["Location"].startswith("/admin/accounts/")
    assert "Not set up yet" in text_of(admin.get(done.headers["Location"]))

    mail = smtp.one_to("dana@example.net")
    assert mail.message["Subject"] == "Your CareCircle account is ready to use"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert "7 days" in mail.text and "Dana Reyes" in mail.text
    link = _link(smtp, "dana@example.net")

    # The patient cannot sign in before choosing a password.
    app.test_client_class = PortalClient
    anonymous = app.test_client()
    followed = anonymous.get(link)
    assert followed.status_code == 302 and followed.headers["Location"] == "/activate"
    assert followed.headers["Referrer-Policy"] == "no-referrer"
    form = anonymous.get("/activate")
    assert "Set up your account" in text_of(form) and "dana@example.net" in text_of(form)
    weak = anonymous.submit("/activate", {"password": "short"})
    assert weak.status_code == 422 and "at least 12 characters" in text_of(weak)
    landed = anonymous.submit("/activate", {"password": NEW_PASSWORD})
    with app.app_context():
        patient = db.session.scalar(select(Patient).where(Patient.given_name == "Dana"))
        assert patient.birth_date == date(1968, 3, 27)
        assert db.session.get(User, patient.user_id).activated_at is not None
    assert landed.status_code == 302
    assert landed.headers["Location"] == f"/p/{patient.id}/plan"
    plan = anonymous.get(landed.headers["Location"])
    assert plan.status_code == 200 and "Your account is ready" in text_of(plan)

    # The link worked once; the password works from now on.
    assert anonymous.get(link).status_code == 410
    again = app.test_client()
    signed_in = again.submit("/login", {"email": "dana@example.net", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    with app.app_context():
        admin_events = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.relation == "admin")
        ).all()
    assert "enrol" in admin_events


def test_a_clinician_who_enrols_joins_the_team_and_sees_the_patient(app, smtp):  # noqa: F811
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park", job_title="Family physician")
    client = clinic.login(doctor.email)
    done = client.submit("/patients/new", enrol_form())
    assert done.status_code == 302
    with app.app_context():
        patient = db.session.scalar(select(Patient).where(Patient.given_name == "Dana"))
        member = db.session.scalar(
            select(CareTeamMember).where(CareTeamMember.patient_id == patient.id)
        )
        assert (member.user_id, member.role, member.is_lead) == (
            doctor.id,
            "Family physician",
            True,
        )
    assert done.headers["Location"] == f"/patients/{patient.id}/activation"
    status = client.get(done.headers["Location"])
    assert status.status_code == 200 and "has not set up their account yet" in text_of(status)
    assert client.get(f"/p/{patient.id}/plan").status_code == 200
    assert "Dana Reyes" in text_of(client.get("/clinic/"))
    # Another clinician, not on the team, cannot see the patient nor the account page.
    other = clinic.login(clinic.clinician("Dr. Lou Grant").email)
    assert other.get(f"/patients/{patient.id}/activation").status_code == 404
    # The care team sends the link again: the old one stops working.
    first = _link(smtp, "dana@example.net")
    again = client.submit(f"/patients/{patient.id}/activation")
    assert again.status_code == 302
    smtp.deliver()
    mails = smtp.to("dana@example.net")
    assert len(mails) == 2
    second = LINK.search(mails[1].text).group(0).removeprefix("http://localhost")
    fresh = app.test_client()
    assert fresh.get(first).status_code == 410
    assert fresh.get(second).status_code == 302


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"birth_year": str(date.today().year + 1)}, "birth_day", "today or in the past"),
        ({"birth_year": "1850"}, "birth_day", "after 1900"),
        ({"birth_day": "31", "birth_month": "2"}, "birth_day", "a real date"),
        ({"birth_year": "١٩٦٨"}, "birth_day", "in numbers"),
        ({"birth_year": "68"}, "birth_day", "4-digit year"),
        ({"birth_month": ""}, "birth_day", "day, month and year"),
        ({"email": "dana at example"}, "email", "email address like"),
        ({"given_name": "  "}, "given_name", "Enter the given name"),
        ({"family_name": "x" * 81}, "family_name", "80 characters"),
    ],
)
def test_bad_details_are_explained_and_nothing_is_written(app, smtp, change, field, message):  # noqa: F811
    admin, lead = as_admin(app)
    users_before = _count(app, User)
    answer = admin.submit("/patients/new", enrol_form(lead_id=lead, **change))
    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert message in text_of(answer) and f'href="#{field}"' in body
    assert _count(app, User) == users_before
    assert _count(app, Patient) == 0 and _count(app, OutboxMail) == 0


def test_an_address_that_has_an_account_is_refused(app, smtp):  # noqa: F811
    clinic = Clinic(app)
    existing = clinic.patient("Robin", "Hale")
    admin, lead = as_admin(app)
    answer = admin.submit("/patients/new", enrol_form(lead_id=lead, email=existing.email.upper()))
    assert answer.status_code == 422 and "already exists" in text_of(answer)
    assert _count(app, Patient) == 1 and _count(app, OutboxMail) == 0
    assert _count(app, CareTeamMember) == 0


def test_an_administrator_names_the_clinician_who_leads_the_team(app, smtp):  # noqa: F811
    admin, lead = as_admin(app)
    patient = Clinic(app).patient("Robin", "Hale")  # a patient account is no clinician
    for choice in ("", "abc", str(patient.user.id), "999999"):
        answer = admin.submit("/patients/new", enrol_form(lead_id=choice))
        assert answer.status_code == 422 and "leads the care team" in text_of(answer), choice
    assert _count(app, Patient) == 1 and _count(app, OutboxMail) == 0
    assert admin.submit("/patients/new", enrol_form(lead_id=lead)).status_code == 302
    with app.app_context():
        dana = db.session.scalar(select(Patient.id).where(Patient.given_name == "Dana"))
        member = db.session.scalar(select(CareTeamMember).where(CareTeamMember.patient_id == dana))
        assert (member.user_id, member.is_lead) == (lead, 1)
    with app.app_context():
        email = db.session.get(User, lead).email
    doctor = Clinic(app).login(email)
    assert "Dana Reyes" in text_of(doctor.get("/clinic/"))
    assert doctor.get(f"/p/{dana}/plan").status_code == 200


def test_only_administrators_and_clinicians_enrol(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    client = clinic.login(patient.email)
    assert client.get("/patients/new").status_code == 404
    assert client.submit("/patients/new", enrol_form()).status_code == 404
    assert _count(app, Patient) == 1
    assert app.test_client().get("/patients/new").status_code == 302  # sign in first


def _age_links(app, days: int) -> None:
    with app.app_context():
        db.session.execute(
            update(AccountToken)
            .where(AccountToken.purpose == TokenPurpose.ACTIVATION)
            .values(
                created_at=utcnow() - timedelta(days=days),
                expires_at=utcnow() - timedelta(days=days) + timedelta(days=7),
            )
        )
        db.session.commit()


def test_an_expired_link_is_refused_clearly_and_a_new_one_can_be_asked_for(app, smtp):  # noqa: F811
    admin, lead = as_admin(app)
    admin.submit("/patients/new", enrol_form(lead_id=lead))
    link = _link(smtp, "dana@example.net")
    _age_links(app, 7)
    client = app.test_client()
    refused = client.get(link)
    assert refused.status_code == 410
    assert "works once, for 7 days" in text_of(refused) and "Send me a new link" in text_of(refused)

    token = link.rsplit("/", 1)[1]
    app.test_client_class = PortalClient
    patient = app.test_client()
    patient.get(link)
    sent = patient.submit("/activate/resend", {"token": token})
    assert sent.status_code == 200 and "Check your email" in text_of(sent)
    smtp.deliver()
    mails = smtp.to("dana@example.net")
    assert len(mails) == 2
    fresh = LINK.search(mails[1].text).group(0).removeprefix("http://localhost")
    assert patient.get(fresh).status_code == 302
    assert patient.submit("/activate", {"password": NEW_PASSWORD}).status_code == 302
    # The expired link brings no second new mail.
    assert patient.submit("/activate/resend", {"token": token}).status_code == 410


def test_an_unused_link_still_works_on_its_last_day(app, smtp):  # noqa: F811
    admin, lead = as_admin(app)
    admin.submit("/patients/new", enrol_form(lead_id=lead))
    link = _link(smtp, "dana@example.net")
    _age_links(app, 6)
    assert app.test_client().get(link).status_code == 302


def test_only_the_hash_of_an_activation_link_is_stored(app, smtp):  # noqa: F811
    admin, lead = as_admin(app)
    admin.submit("/patients/new", enrol_form(lead_id=lead))
    token = _link(smtp, "dana@example.net").rsplit("/", 1)[1]
    with app.app_context():
        stored = db.session.scalar(select(AccountToken.token_hash))
        assert token not in stored and len(stored) == 64


def test_a_waiting_account_cannot_sign_in(app, smtp):  # noqa: F811
    admin, lead = as_admin(app)
    admin.submit("/patients/new", enrol_form(lead_id=lead))
    app.test_client_class = PortalClient
    client = app.test_client()
    answer = client.submit("/login", {"email": "dana@example.net", "password": DEMO_PASSWORD})
    assert answer.status_code == 422


def test_the_mail_carries_no_health_information(app, smtp):  # noqa: F811
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park", job_title="Psychiatrist")
    clinic.login(doctor.email).submit("/patients/new", enrol_form())
    mail = smtp.one_to("dana@example.net")
    for word in ("Psychiatr", "Ada Park", "1968", "primary"):
        assert word not in mail.text and word not in mail.html
