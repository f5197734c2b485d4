"""What matters to the patient: the first-time questions, changes kept, the team sees them first."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import pagecache
from portal.decisions.preferences_models import PatientPreferences, PreferenceChange
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import Clinic


@pytest.fixture()
def clinic(app):
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park")
    other = clinic.clinician("Dr. Ben Ode")
    patient = clinic.patient("Robin", "Hale")
    clinic.team(patient, doctor)
    clinic.team(patient, other, role="Nurse")
    return clinic, patient, doctor, other


def _url(patient, tail: str = "") -> str:
    return f"/p/{patient.id}/preferences{tail}"


def _first_two_steps(client, patient) -> None:
    """What matters and how involved, then "skip for now" for the rest."""
    response = client.submit(
        _url(patient, "/matters"),
        {
            "step": "1",
            "what_matters": "Walking my dog and seeing my grandchildren",
            "priority_1": "home",
            "priority_2": "",
            "priority_3": "other",
            "priority_other": "Singing in the choir",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(_url(patient, "/involvement?step=1"))
    response = client.submit(_url(patient, "/involvement"), {"step": "1", "involvement": "shared"})
    assert response.headers["Location"].endswith(_url(patient, "/information?step=1"))
    response = client.submit(_url(patient, "/information"), {"step": "1", "skip": "1"})
    assert response.status_code == 303


def test_a_new_patient_is_asked_once_and_skip_is_remembered(app, clinic):
    clinic, patient, _doctor, _other = clinic
    client = clinic.login(patient.email)
    home = client.get(f"/p/{patient.id}/")
    assert "Tell your care team what matters to you" in text_of(home)
    response = client.submit(_url(patient, "/skip"))
    assert response.status_code == 303
    again = client.get(f"/p/{patient.id}/")
    assert "Tell your care team what matters to you" not in text_of(again)
    assert "You can tell your care team any time" in text_of(again)
    # Still there to fill in from the plan.
    plan = text_of(client.get(f"/p/{patient.id}/plan"))
    assert "Tell your team" in plan


def test_the_first_steps_save_ranked_priorities_and_involvement(app, clinic):
    clinic, patient, _doctor, _other = clinic
    client = clinic.login(patient.email)
    _first_two_steps(client, patient)
    page = text_of(client.get(_url(patient)))
    assert "Walking my dog and seeing my grandchildren" in page
    assert "1. Being at home" not in page  # listed, not numbered in words
    assert "Being at home" in page and "Singing in the choir" in page
    assert "share responsibility for deciding which treatment is best for me" in page
    with app.app_context():
        row = db.session.get(PatientPreferences, patient.id)
        assert row.priorities == ["home", "other"]  # the gap closed, the order kept
        assert row.flow.value == "skipped"
        assert row.version == 2
    home = text_of(client.get(f"/p/{patient.id}/"))
    assert "Tell your care team what matters to you" not in home


def test_every_change_is_kept_in_words_with_who_and_when(app, clinic):
    clinic, patient, _doctor, _other = clinic
    client = clinic.login(patient.email)
    _first_two_steps(client, patient)
    client.submit(_url(patient, "/involvement"), {"involvement": "active", "version": "2"})
    history = text_of(client.get(_url(patient, "/history")))
    assert history.count("You changed this") == 3
    assert "How involved in decisions: I prefer to make the final selection" in history
    assert "(was: I prefer that my doctor and I share responsibility" in history
    # Saving the same answers again is not a change.
    client.submit(_url(patient, "/involvement"), {"involvement": "active"})
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(PreferenceChange))
    assert count == 3


def test_bad_answers_are_named_and_nothing_is_saved(app, clinic):
    clinic, patient, _doctor, _other = clinic
    client = clinic.login(patient.email)
    response = client.submit(
        _url(patient, "/matters"),
        {"priority_1": "home", "priority_2": "home", "priority_3": "other", "priority_other": ""},
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page
    assert "Choose each thing only once" in page
    assert "Write what else matters to you" in page
    response = client.submit(_url(patient, "/involvement"), {"involvement": "whatever"})
    assert response.status_code == 422
    assert client.get(_url(patient, "/nonsense")).status_code == 404
    with app.app_context():
        assert db.session.get(PatientPreferences, patient.id) is None


def test_a_stale_form_is_refused_not_lost(app, clinic):
    clinic, patient, _doctor, _other = clinic
    client = clinic.login(patient.email)
    _first_two_steps(client, patient)
    response = client.submit(
        _url(patient, "/involvement"), {"involvement": "passive", "version": "1"}
    )
    assert response.status_code == 409
    assert "changed somewhere else" in text_of(response)


def test_the_team_sees_them_first_marked_updated_until_seen(app, clinic):
    clinic, patient, doctor, other = clinic
    client = clinic.login(patient.email)
    _first_two_steps(client, patient)
    park = clinic.login(doctor.email)
    plan = park.get(f"/p/{patient.id}/plan").get_data(as_text=True)
    first = text_of(park.get(f"/p/{patient.id}/plan"))
    assert "Updated since you last looked" in first
    assert "Wants to decide together · most important: being at home" in first
    assert "Walking my dog" in first
    assert plan.index('id="prefs-title"') < plan.index('id="agree-title"')  # first on the plan
    # Marking seen clears it for this clinician only.
    assert park.submit(f"/p/{patient.id}/preferences/seen").status_code == 303
    assert "Updated since you last looked" not in text_of(park.get(f"/p/{patient.id}/plan"))
    ode = clinic.login(other.email)
    assert "Updated since you last looked" in text_of(ode.get(f"/p/{patient.id}/plan"))
    # A new change by the patient marks it again, on the kept page too.
    client.submit(_url(patient, "/information"), {"risk_format": "words"})
    again = text_of(park.get(f"/p/{patient.id}/plan"))
    assert "Updated since you last looked" in again
    assert "words not numbers" in again


def test_the_team_reads_but_does_not_change(app, clinic):
    clinic, patient, doctor, _other = clinic
    park = clinic.login(doctor.email)
    assert park.get(_url(patient)).status_code == 200
    assert park.get(_url(patient, "/history")).status_code == 200
    assert park.get(_url(patient, "/matters")).status_code == 403
    assert park.submit(_url(patient, "/involvement"), {"involvement": "active"}).status_code == 403
    assert park.submit(_url(patient, "/skip")).status_code == 403


def test_plan_query_count_does_not_grow_with_changes(app, clinic, count_queries):
    clinic, patient, doctor, _other = clinic
    client = clinic.login(patient.email)
    park = clinic.login(doctor.email)
    counts = []
    for changes in (1, 12):
        for n in range(changes):
            client.submit(_url(patient, "/matters"), {"what_matters": f"Change {n} {changes}"})
        park.get(f"/p/{patient.id}/plan")  # warm the session row
        pagecache.cache_of(app).clear()
        with count_queries() as counter:
            response = park.get(f"/p/{patient.id}/plan")
        assert "Updated since you last looked" in text_of(response)
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


def test_each_row_says_updated_by_its_own_patients_seen_mark(app, clinic):
    """Two patients on one page: marking one's preferences seen clears that row only."""
    clinic, first, doctor, _other = clinic
    second = clinic.patient("Sam", "Ito")
    clinic.team(second, doctor)
    for patient in (first, second):
        _first_two_steps(clinic.login(patient.email), patient)
        goal = clinic.goal(patient, f"Walk {patient.id}", share="1")
        clinic.entry(patient, goal, value="20")
    park = clinic.login(doctor.email)
    park.submit(f"/p/{first.id}/preferences/seen")

    def updated(page: str) -> dict[str, bool]:
        """Whether each patient's table row says "Preferences updated"."""
        html = park.get(page).get_data(as_text=True)
        rows = [row for row in html.split("<tr")[1:] if "Robin Hale" in row or "Sam Ito" in row]
        assert len(rows) == 2, rows
        return {
            ("Robin" if "Robin Hale" in row else "Sam"): "Preferences updated" in row
            for row in rows
        }

    # Each row reads its own patient's mark, whichever order the page shows them in.
    assert updated("/clinic/inbox") == {"Robin": False, "Sam": True}
    assert updated("/clinic/") == {"Robin": False, "Sam": True}


def test_the_panel_and_inbox_carry_one_line_for_a_reply(app, clinic, count_queries):
    clinic, patient, doctor, _other = clinic
    stranger = clinic.clinician("Dr. Off Team")
    client = clinic.login(patient.email)
    _first_two_steps(client, patient)
    goal = clinic.goal(patient, "Walk after lunch", share="1")
    clinic.entry(patient, goal, value="20", note="Round the block")
    park = clinic.login(doctor.email)
    panel = text_of(park.get("/clinic/"))
    assert "Preferences updated" in panel
    assert "Wants to decide together · most important: being at home" in panel
    inbox = text_of(park.get("/clinic/inbox"))
    assert "Wants to decide together · most important: being at home" in inbox
    assert "Preferences updated" in inbox
    park.submit(f"/p/{patient.id}/preferences/seen")
    assert "Preferences updated" not in text_of(park.get("/clinic/"))
    inbox = text_of(park.get("/clinic/inbox"))
    assert "Preferences updated" not in inbox
    assert "Wants to decide together" in inbox
    assert "Wants to decide" not in text_of(clinic.login(stranger.email).get("/clinic/"))
    # A fixed number of queries, however many changes there were.
    counts = []
    for n in range(2):
        for k in range(5 * n):
            client.submit(_url(patient, "/matters"), {"what_matters": f"Round {n}.{k}"})
        with count_queries() as counter:
            assert park.get("/clinic/").status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


def test_list_lines_only_name_the_clinicians_own_patients(app, clinic):
    from portal.auth.models import User
    from portal.decisions.preferences_services import list_lines

    clinic, patient, doctor, _other = clinic
    stranger = clinic.clinician("Dr. Off Team")
    _first_two_steps(clinic.login(patient.email), patient)
    with app.app_context():
        assert patient.id in list_lines(db.session.get(User, doctor.id), [patient.id])
        assert list_lines(db.session.get(User, stranger.id), [patient.id]) == {}


def _access(app, user_id: int, patient_id: int):
    from portal.access import resolve
    from portal.auth.models import User

    return resolve(db.session.get(User, user_id), patient_id)


def test_a_caregiver_gets_exactly_what_the_grant_says(app, clinic):
    """Delegated access lands later (issue 8): the services already go by scope alone."""
    from dataclasses import replace

    from portal.access import AccessDenied, Relation, Scope
    from portal.decisions import preferences_services as services

    clinic, patient, _doctor, _other = clinic
    helper = clinic.clinician("Sam Helper")  # any account; the relation is what counts
    with app.app_context():
        own = _access(app, patient.user.id, patient.id)
        base = replace(
            own, actor_id=helper.id, actor_name="Sam Helper", relation=Relation.CAREGIVER
        )
        reader = replace(base, scopes=frozenset({Scope.PLAN_READ, Scope.DECISIONS_READ}))
        writer = replace(base, scopes=frozenset({Scope.DECISIONS_READ, Scope.DECISIONS_WRITE}))
        neither = replace(base, scopes=frozenset({Scope.PLAN_READ}))
        assert services.load(reader).version == 0
        assert services.card(neither) is None  # the plan shows nothing of them
        with pytest.raises(AccessDenied):
            services.load(neither)
        with pytest.raises(AccessDenied):
            services.save(reader, {"what_matters": "x"})
        with pytest.raises(AccessDenied):
            services.skip(reader)
        saved = services.save(writer, {"what_matters": "Said for Robin"})
        assert saved.updated_by_name == "Sam Helper"
        entry = services.history(reader)[0]
        assert (entry.actor_name, entry.actor_relation) == ("Sam Helper", "caregiver")
        db.session.rollback()


def test_a_clinicians_own_change_does_not_mark_them_updated(app, clinic):
    from dataclasses import replace

    from portal.access import Scope
    from portal.decisions import preferences_services as services

    clinic, patient, doctor, other = clinic
    with app.app_context():
        park = _access(app, doctor.id, patient.id)
        writing = replace(park, scopes=park.scopes | {Scope.DECISIONS_WRITE})
        services.save(writing, {"involvement": "shared"})
        assert services.card(park).unseen is False  # her own words, as recorded at a visit
        assert services.card(_access(app, other.id, patient.id)).unseen is True
        db.session.commit()


def test_the_full_page_tells_the_clinician_too(app, clinic):
    clinic, patient, doctor, _other = clinic
    _first_two_steps(clinic.login(patient.email), patient)
    park = clinic.login(doctor.email)
    page = text_of(park.get(_url(patient)))
    assert "Updated since you last looked" in page
    assert "What matters to Robin Hale" in page
    park.submit(_url(patient, "/seen"))
    assert "Updated since you last looked" not in text_of(park.get(_url(patient)))
