"""The decisions API: the same rules as the pages, every answer as described in OpenAPI."""

from __future__ import annotations

from sqlalchemy import select

from portal.decisions.models import Decision, DecisionOption, SureAnswer
from portal.extensions import db
from tests.test_decisions import clinic, open_a1c  # noqa: F401  (fixture)


def _options(app, decision_id: int) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(DecisionOption.id)
                .where(DecisionOption.decision_id == decision_id)
                .order_by(DecisionOption.position)
            )
        )


def test_the_patient_reads_leans_and_answers_through_the_api(app, clinic):  # noqa: F811
    decision_id = open_a1c(clinic)
    options = _options(app, decision_id)
    alex = clinic.login(clinic.alex.email)
    base = f"/api/v1/patients/{clinic.alex.id}/decisions"
    listed = alex.get(base).get_json()["decisions"]
    assert [d["question"] for d in listed] == ["How do we bring your A1c down?"]
    assert listed[0]["ready"] is None and listed[0]["status"] == "open"
    one = alex.get(f"{base}/{decision_id}").get_json()
    assert one["options"][0]["title"] == "Add a second medicine"
    assert one["options"][0]["risks"] == "Upset stomach for some weeks."

    lean = alex.api("POST", f"{base}/{decision_id}/lean", {"option_id": options[0], "why": "Quick"})
    assert lean.status_code == 200 and lean.get_json()["option_id"] == options[0]
    unsure = alex.api("POST", f"{base}/{decision_id}/lean", {"option_id": None})
    assert unsure.status_code == 200 and unsure.get_json()["option_id"] is None
    other = alex.api("POST", f"{base}/{decision_id}/lean", {"option_id": 999999})
    assert other.status_code == 422 and "option_id" in other.get_json()["fields"]

    answers = {"sure": True, "understand": False, "risk_benefit": True, "encouragement": True}
    sure = alex.api("POST", f"{base}/{decision_id}/sure", answers)
    assert sure.status_code == 201
    assert sure.get_json()["score"] == 3 and sure.get_json()["ready"] is False
    rivera = clinic.login(clinic.rivera.email)
    seen = rivera.get(f"{base}/{decision_id}").get_json()
    assert seen["ready"] is False and seen["sure_answers"]["understand"] is False
    assert seen["lean"]["option_id"] is None


def test_bad_bodies_name_each_field_and_write_nothing(app, clinic):  # noqa: F811
    decision_id = open_a1c(clinic)
    alex = clinic.login(clinic.alex.email)
    base = f"/api/v1/patients/{clinic.alex.id}/decisions/{decision_id}"
    sure = alex.api("POST", base + "/sure", {"sure": "maybe", "understand": True})
    assert sure.status_code == 422
    assert set(sure.get_json()["fields"]) == {"sure", "risk_benefit", "encouragement"}
    early = alex.api("POST", base + "/collaborate", {"understand": 9, "listen": 9, "include": 9})
    assert early.status_code == 409
    high = alex.api("POST", base + "/collaborate", {"understand": 10, "listen": 9, "include": 9})
    assert high.status_code == 422 and "understand" in high.get_json()["fields"]
    with app.app_context():
        assert db.session.scalar(select(SureAnswer.id)) is None
        assert db.session.get(Decision, decision_id).ready is None


def test_the_team_reads_but_does_not_answer_for_the_patient(app, clinic):  # noqa: F811
    decision_id = open_a1c(clinic)
    rivera = clinic.login(clinic.rivera.email)
    base = f"/api/v1/patients/{clinic.alex.id}/decisions/{decision_id}"
    assert rivera.get(base).status_code == 200
    answers = {"sure": True, "understand": True, "risk_benefit": True, "encouragement": True}
    assert rivera.api("POST", base + "/sure", answers).status_code == 403
    chen = clinic.login(clinic.chen.email)
    assert chen.get(base).status_code == 404
