"""The administration area as an administrator meets it, and the create-admin command."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.admin import services
from portal.audit.models import AuditEvent
from portal.auth.models import AuthSession, User, UserKind
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, PortalClient, text_of
from tests.factories import Clinic
from tests.mailbox import smtp  # noqa: F401  (the fixture)
from tests.test_enrolment import ADMIN, make_admin

LINK = re.compile(r"http://localhost/activate/[A-Za-z0-9_-]+")
NEW_PASSWORD = "rounds at eight, coffee at ten"


@pytest.fixture()
def admin(app) -> PortalClient:
    make_admin(app)
    return Clinic(app).login(ADMIN)


def _audit(app, action: str) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            select(AuditEvent.relation, AuditEvent.patient_id, AuditEvent.object_type).where(
                AuditEvent.action == action
            )
        ).all()


def test_an_administrator_signs_in_to_the_accounts_list(app, admin):
    clinic = Clinic(app)
    clinic.patient("Robin", "Hale")
    clinic.clinician("Dr. Ada Park")
    assert app.test_client().get("/").status_code == 302
    home = admin.get("/")
    assert home.headers["Location"] == "/admin/"
    page = text_of(admin.get("/admin/"))
    assert "Robin Hale" in page and "Dr. Ada Park" in page and "3 accounts" in page
    found = text_of(admin.get("/admin/?q=park"))
    assert "Dr. Ada Park" in found and "Robin Hale" not in found
    by_email = text_of(admin.get("/admin/?q=PATIENT"))  # factory addresses start with the kind
    assert "Robin Hale" in by_email and "Dr. Ada Park" not in by_email
    assert "No accounts match" in text_of(admin.get("/admin/?q=%25_nobody"))
    assert ("admin", None, "user") in _audit(app, "list")


def test_the_list_is_paged(app, admin):
    with app.app_context():
        for n in range(services.PER_PAGE + 5):
            db.session.add(
                User(
                    email=f"p{n}@example.com", password_hash="x", name=f"Pat {n:03}", kind="patient"
                )
            )
        db.session.commit()
    first = text_of(admin.get("/admin/"))
    assert "page 1 of 2" in first and "Next page" in first and "Pat 000" in first
    second = text_of(admin.get("/admin/?page=2"))
    assert "Pat 054" in second and "Previous page" in second and "Pat 000" not in second
    assert admin.get("/admin/?page=99").status_code == 200  # past the end: the last page
    assert admin.get("/admin/?page=x").status_code == 200


def test_nobody_else_finds_the_administration_area(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    doctor = clinic.clinician()
    make_admin(app)
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == ADMIN))
    for email in (patient.email, doctor.email):
        client = clinic.login(email)
        for url in ("/admin/", "/admin/clinicians/new", f"/admin/accounts/{admin_id}"):
            assert client.get(url).status_code == 404
        assert client.submit(f"/admin/accounts/{doctor.id}/disable").status_code == 404
    assert app.test_client().get("/admin/").status_code == 302  # sign in first
    with app.app_context():
        assert db.session.get(User, doctor.id).is_active_account


def test_an_administrator_adds_a_clinician_who_chooses_a_password(app, admin, smtp):  # noqa: F811
    form = {
        "name": "Dr. Lou Grant",
        "email": "Lou.Grant@Example.org",
        "discipline": "nutrition",
        "job_title": "Dietitian",
    }
    done = admin.submit("/admin/clinicians/new", form)
    assert done.status_code == 302
    page = text_of(admin.get(done.headers["Location"]))
    assert "Not set up yet" in page and "lou.grant@example.org" in page
    mail = smtp.one_to("lou.grant@example.org")
    assert "administrator of your practice" in mail.text
    assert "Nutrition" not in mail.text and "Dietitian" not in mail.text
    link = LINK.search(mail.text).group(0).removeprefix("http://localhost")
    app.test_client_class = PortalClient
    lou = app.test_client()
    assert lou.get(link).status_code == 302
    saved = lou.submit("/activate", {"password": NEW_PASSWORD})
    # Staff sign in themselves after choosing a password (their second factor comes next).
    assert saved.status_code == 302 and saved.headers["Location"] == "/login"
    signed_in = lou.submit("/login", {"email": "lou.grant@example.org", "password": NEW_PASSWORD})
    # A new clinician sets up her authenticator before she reaches any page.
    assert signed_in.headers["Location"] == "/login/setup"
    assert lou.get("/clinic/").status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "lou.grant@example.org"))
        assert (user.kind, user.discipline.value, user.job_title) == (
            UserKind.CLINICIAN,
            "nutrition",
            "Dietitian",
        )
    assert ("admin", None, "user") in _audit(app, "create")


def test_adding_a_clinician_explains_what_is_wrong(app, admin, smtp):  # noqa: F811
    clinic = Clinic(app)
    taken = clinic.clinician()
    answer = admin.submit(
        "/admin/clinicians/new", {"name": "", "email": taken.email, "discipline": "wizardry"}
    )
    assert answer.status_code == 422
    page = text_of(answer)
    assert "Enter the name" in page and "Choose one of the options" in page
    answer = admin.submit(
        "/admin/clinicians/new",
        {"name": "Kim", "email": taken.email.upper(), "discipline": "nursing"},
    )
    assert answer.status_code == 422 and "already exists" in text_of(answer)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_disabling_ends_an_open_session_at_once_and_enabling_restores_sign_in(app, admin):
    clinic = Clinic(app)
    patient = clinic.patient()
    phone = clinic.login(patient.email)
    plan = f"/p/{patient.id}/plan"
    assert phone.get(plan).status_code == 200

    done = admin.submit(f"/admin/accounts/{patient.user.id}/disable")
    assert done.status_code == 302
    assert "signed out everywhere" in text_of(admin.get(done.headers["Location"]))
    assert phone.get(plan).status_code == 302  # the open session no longer works
    with app.app_context():
        live = select(func.count()).select_from(AuthSession)
        live = live.where(AuthSession.user_id == patient.user.id, AuthSession.revoked_at.is_(None))
        assert db.session.scalar(live) == 0
    app.test_client_class = PortalClient
    again = app.test_client()
    refused = again.submit("/login", {"email": patient.email, "password": DEMO_PASSWORD})
    assert refused.status_code == 422
    assert "Disabled" in text_of(admin.get("/admin/"))

    admin.submit(f"/admin/accounts/{patient.user.id}/enable")
    assert clinic.login(patient.email).get(plan).status_code == 200
    actions = {a for a in ("disable", "enable") if ("admin", None, "user") in _audit(app, a)}
    assert actions == {"disable", "enable"}


def test_an_administrator_cannot_disable_their_own_account(app, admin):
    with app.app_context():
        me = db.session.scalar(select(User.id).where(User.email == ADMIN))
    answer = admin.submit(f"/admin/accounts/{me}/disable", follow_redirects=True)
    assert "cannot disable your own account" in text_of(answer)
    assert admin.get("/admin/").status_code == 200


def test_actions_need_the_csrf_token(app, admin):
    doctor = Clinic(app).clinician()
    assert admin.post(f"/admin/accounts/{doctor.id}/disable").status_code == 400
    with app.app_context():
        assert db.session.get(User, doctor.id).is_active_account


def test_administrators_see_no_patient_pages(app, admin):
    clinic = Clinic(app)
    patient = clinic.patient()
    clinic.goal(patient)
    for url in (f"/p/{patient.id}/plan", f"/p/{patient.id}/", f"/patients/{patient.id}/activation"):
        assert admin.get(url).status_code == 404
    assert admin.get("/clinic/").status_code == 404
    account = text_of(admin.get(f"/admin/accounts/{patient.user.id}"))
    assert "Walk after lunch" not in account


def test_a_new_link_for_a_waiting_account_replaces_the_old(app, admin, smtp):  # noqa: F811
    admin.submit(
        "/admin/clinicians/new",
        {"name": "Kim", "email": "kim@example.org", "discipline": "nursing"},
    )
    with app.app_context():
        kim = db.session.scalar(select(User.id).where(User.email == "kim@example.org"))
    first = LINK.search(smtp.one_to("kim@example.org").text).group(0)
    admin.submit(f"/admin/accounts/{kim}/resend")
    smtp.deliver()
    second = LINK.search(smtp.to("kim@example.org")[1].text).group(0)
    client = app.test_client()
    assert client.get(first.removeprefix("http://localhost")).status_code == 410
    assert client.get(second.removeprefix("http://localhost")).status_code == 302
    # An account that is set up gets no link.
    with app.app_context():
        me = db.session.scalar(select(User.id).where(User.email == ADMIN))
    answer = admin.submit(f"/admin/accounts/{me}/resend", follow_redirects=True)
    assert "set up their account already" in text_of(answer)


# -- flask users create-admin ---------------------------------------------------------------------


def _create_admin(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["users", "create-admin", *args], input=input)


def test_create_admin_makes_an_administrator(app):
    result = _create_admin(
        app, "--email=Ops@Example.org", "--name=Robin Hale", f"--password={NEW_PASSWORD}"
    )
    assert result.exit_code == 0, result.output
    assert "Created administrator ops@example.org" in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ops@example.org"))
        assert user.kind is UserKind.ADMIN and user.activated_at is not None
        # A privilege given is in the trail, by nobody signed in.
        given = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "admin_created")
        ).one()
        assert (given.actor_id, given.object_id, given.relation) == (None, user.id, "command_line")
    assert Clinic(app).app.test_client().get("/admin/").status_code == 302


def test_create_admin_prompts_for_what_is_missing(app):
    typed = f"ops@example.org\nRobin Hale\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    result = _create_admin(app, input=typed)
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User.kind).where(User.email == "ops@example.org")) == (
            UserKind.ADMIN
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email=ops@example.org", "--name=Robin", "--password=short"], "at least 12"),
        (["--email=ops@example.org", "--name=Robin", "--password=password1234"], "too common"),
        (["--email=not-an-address", "--name=Robin", f"--password={NEW_PASSWORD}"], "not an email"),
        (["--email=ops@example.org", "--name= ", f"--password={NEW_PASSWORD}"], "1 to 120"),
    ],
)
def test_create_admin_refuses_bad_input_with_a_reason(app, args, message):
    result = _create_admin(app, *args)
    assert result.exit_code == 1 and message in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_admin_refuses_an_address_in_use(app):
    make_admin(app, "ops@example.org")
    result = _create_admin(
        app, "--email=ops@example.org", "--name=Robin", f"--password={NEW_PASSWORD}"
    )
    assert result.exit_code == 1 and "already exists" in result.output


def test_a_mistyped_address_is_corrected_and_the_link_goes_there(app, admin, smtp):  # noqa: F811
    admin.submit(
        "/admin/clinicians/new",
        {"name": "Kim", "email": "kim@exmaple.org", "discipline": "nursing"},
    )
    with app.app_context():
        kim = db.session.scalar(select(User.id).where(User.email == "kim@exmaple.org"))
    wrong = LINK.search(smtp.one_to("kim@exmaple.org").text).group(0)
    taken = admin.submit(f"/admin/accounts/{kim}/email", {"email": ADMIN})
    assert taken.status_code == 422 and "already uses this email" in text_of(taken)
    fixed = admin.submit(f"/admin/accounts/{kim}/email", {"email": "Kim@Example.org"})
    assert fixed.status_code == 302
    right = LINK.search(smtp.one_to("kim@example.org").text).group(0)
    client = app.test_client()
    assert client.get(wrong.removeprefix("http://localhost")).status_code == 410
    assert client.get(right.removeprefix("http://localhost")).status_code == 302
    assert ("admin", None, "user") in _audit(app, "correct_email")


def test_an_account_in_use_keeps_its_address(app, admin, smtp):  # noqa: F811
    doctor = Clinic(app).clinician()
    answer = admin.submit(f"/admin/accounts/{doctor.id}/email", {"email": "new@example.org"})
    assert answer.status_code == 422 and "changes their own email address" in text_of(answer)
    with app.app_context():
        assert db.session.get(User, doctor.id).email == doctor.email
    smtp.deliver()
    assert smtp.messages == []
