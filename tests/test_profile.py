"""The profile page: everyone's name and time zone, shown everywhere at once."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.auth import profile
from portal.auth.models import User
from portal.extensions import db
from portal.when import format_when
from tests.conftest import text_of
from tests.factories import Clinic
from tests.test_versions import _get, _section, _warm


def _user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_a_clinician_renames_and_the_patients_kept_plan_shows_it_at_once(app):
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park")
    patient = clinic.patient("Robin", "Hale")
    clinic.team(patient, doctor)
    robin = clinic.login(patient.email)
    url = f"/p/{patient.id}/plan"
    assert "Dr. Ada Park" in _section(_warm(app, robin, url), "team-title")  # served kept

    ada = clinic.login(doctor.email)
    form = ada.get("/account/profile")
    assert form.status_code == 200 and 'value="Dr. Ada Park"' in form.get_data(as_text=True)
    saved = ada.submit(
        "/account/profile", {"name": "Dr. Ada Stone", "timezone": "America/New_York"}
    )
    assert saved.status_code == 302 and saved.headers["Location"] == "/account/profile"

    html, kept_anew = _get(app, robin, url)
    team = _section(html, "team-title")
    assert kept_anew and "Dr. Ada Stone" in team and "Dr. Ada Park" not in team
    # Her own pages say the new name too, from this very session.
    assert "Dr. Ada Stone" in text_of(ada.get("/account"))


def test_the_time_zone_changes_how_times_are_shown(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    client = clinic.login(patient.email)
    saved = client.submit("/account/profile", {"name": "Robin Hale", "timezone": "Asia/Tokyo"})
    assert saved.status_code == 302
    assert _user(app, patient.user.id).timezone == "Asia/Tokyo"
    page = client.get("/account/profile")
    assert '<option selected value="Asia/Tokyo">Tokyo</option>' in page.get_data(as_text=True)
    assert "(Asia/Tokyo)" in text_of(client.get("/account"))
    moment = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    with app.test_request_context(headers={"Accept-Language": "en-GB"}):
        from flask_login import login_user

        from portal.auth.services import SignedInUser

        me = _user(app, patient.user.id)
        login_user(
            SignedInUser(me.id, me.email, me.name, me.kind, None, None, me.timezone, session_id=0)
        )
        assert format_when(moment) == "2 Dec 2026, 08:30"  # Tokyo is UTC+9


def test_bad_details_are_refused_with_a_reason(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    client = clinic.login(patient.email)
    for form, message in (
        ({"name": "Robin", "timezone": "Mars/Olympus_Mons"}, "Choose your time zone"),
        ({"name": "Robin", "timezone": "US/Eastern"}, "Choose your time zone"),  # an alias
        ({"name": " ", "timezone": "UTC"}, "Enter the name"),
        ({"name": "x" * 121, "timezone": "UTC"}, "120 characters"),
    ):
        answer = client.submit("/account/profile", form)
        assert answer.status_code == 422 and message in text_of(answer), form
    me = _user(app, patient.user.id)
    assert (me.name, me.timezone) == ("Robin Hale", "America/New_York")


def test_the_profile_needs_sign_in_and_the_csrf_token(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    assert app.test_client().get("/account/profile").status_code == 302
    client = clinic.login(patient.email)
    refused = client.post("/account/profile", data={"name": "Mallory", "timezone": "UTC"})
    assert refused.status_code == 400
    assert _user(app, patient.user.id).name == "Robin Hale"


def test_the_zones_offered_are_real_places_and_all_load():
    zones = profile.time_zones()
    assert "America/New_York" in zones and "Europe/Paris" in zones and "UTC" in zones
    assert "US/Eastern" not in zones and "EST5EDT" not in zones
    assert all(profile.valid_zone(z) for z in zones)
    with_area = {area for area in profile.zone_choices()}
    assert {"America", "Europe", "Other"} <= with_area


def test_a_patient_is_told_what_the_name_changes(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    page = text_of(clinic.login(patient.email).get("/account/profile"))
    assert "how your name shows in messages" in page
    assert "Change your email address" in page
