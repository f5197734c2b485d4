"""Access matrix rows for what matters to the patient: pages and API."""

from tests.matrix import HIDDEN, Case, patient_page

SELF_ONLY = patient_page(team=403)  # the patient's own words: the team reads, never changes
SELF_ONLY_DONE = patient_page(patient=303, team=403)
BOTH_DONE = patient_page(patient=303, team=303)
API = {"anonymous": 401, "patient": 200, "other_patient": HIDDEN, "team": 200, "off_team": HIDDEN}


def section(name: str):
    return lambda demo: {"patient_id": demo.alex, "section": name}


def involvement_form(demo) -> dict:
    return {"involvement": "active_shared"}


ROUTES = [
    Case("preferences.view", patient_page()),
    Case("preferences.history", patient_page()),
    Case("preferences.edit", SELF_ONLY, args=section("matters")),
    Case("preferences.edit", SELF_ONLY, args=section("people"), id="GET preferences people"),
    Case(
        "preferences.edit",
        SELF_ONLY_DONE,
        method="POST",
        args=section("involvement"),
        form=involvement_form,
    ),
    Case("preferences.skip", SELF_ONLY_DONE, method="POST"),
    Case("preferences.seen", BOTH_DONE, method="POST"),
    Case("api.preferences_get", API),
    Case("api.preferences_history", API),
    Case(
        "api.preferences_put",
        {**API, "team": 403},
        method="PUT",
        json=lambda demo: {"contact_times": "Afternoons"},
    ),
]
