"""The preferences API: the same rules as the pages, described in the OpenAPI document."""

from __future__ import annotations

import pytest

from tests.factories import Clinic


@pytest.fixture()
def people(app):
    clinic = Clinic(app)
    doctor = clinic.clinician("Dr. Ada Park")
    patient = clinic.patient("Robin", "Hale")
    clinic.team(patient, doctor)
    return clinic, patient, doctor


def _url(patient, tail: str = "") -> str:
    return f"/api/v1/patients/{patient.id}/preferences{tail}"


def test_get_put_and_history(app, people):
    clinic, patient, doctor = people
    client = clinic.login(patient.email)
    blank = client.get(_url(patient)).get_json()
    assert blank["version"] == 0 and blank["priorities"] == [] and blank["summary"] == ""
    response = client.api(
        "PUT",
        _url(patient),
        {
            "version": 0,
            "what_matters": "My garden",
            "priorities": ["home", "other"],
            "priority_other": "My choir",
            "involvement": "passive_shared",
            "risk_format": "words",
            "interpreter": True,
            "language": "Spanish",
            "people": [{"name": "Ana Hale", "relationship": "daughter"}],
        },
    )
    assert response.status_code == 200, response.get_json()
    saved = response.get_json()
    assert saved["version"] == 1
    assert saved["people"] == [
        {"name": "Ana Hale", "relationship": "daughter", "grant_id": None, "has_access": None}
    ]
    assert saved["summary"].startswith("Wants the doctor to decide, considering their view")
    assert "needs a Spanish interpreter" in saved["summary"]
    # Fields left out keep their value.
    again = client.api("PUT", _url(patient), {"detail": "brief"}).get_json()
    assert again["what_matters"] == "My garden" and again["detail"] == "brief"
    history = client.get(_url(patient, "/history")).get_json()["changes"]
    assert [c["version"] for c in history] == [2, 1]
    assert history[0]["changes"][0]["text"] == (
        "How much detail: Just the main points (was: not said)"
    )
    team = clinic.login(doctor.email).get(_url(patient)).get_json()
    assert team["updated_since_seen"] is True


def test_put_refuses_bad_fields_stale_versions_and_the_team(app, people):
    clinic, patient, doctor = people
    client = clinic.login(patient.email)
    response = client.api(
        "PUT", _url(patient), {"priorities": ["home", "home"], "involvement": "maybe"}
    )
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) == {"priorities", "involvement"}
    response = client.api("PUT", _url(patient), {"priorities": ["other"]})
    assert response.status_code == 422
    assert "priority_other" in response.get_json()["fields"]
    assert client.api("PUT", _url(patient), {"what_matters": "x"}).status_code == 200
    stale = client.api("PUT", _url(patient), {"version": 0, "what_matters": "y"})
    assert stale.status_code == 409
    team = clinic.login(doctor.email)
    assert team.api("PUT", _url(patient), {"what_matters": "z"}).status_code == 403
    assert client.get(_url(patient)).get_json()["what_matters"] == "x"
