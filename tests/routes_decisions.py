"""Access matrix rows for decisions: pages, the patient's answers, the team's record, the API."""

from datetime import date, timedelta

from sqlalchemy import delete, select

from portal.decisions.models import CollaborateAnswer, Decision, DecisionOption, DecisionStatus
from portal.extensions import db
from tests.matrix import HIDDEN, LOGIN, Case, patient_page

TEAM_ONLY = patient_page(patient=403)
TEAM_ONLY_DONE = patient_page(patient=403, team=303)
SELF_ONLY_DONE = patient_page(patient=303, team=403)
BOTH_DONE = patient_page(patient=303, team=303)
API = {"anonymous": 401, "patient": 200, "other_patient": HIDDEN, "team": 200, "off_team": HIDDEN}
API_SELF = {**API, "team": 403}
API_SELF_CREATED = {**API, "patient": 201, "team": 403}


def _decision(demo, status: DecisionStatus) -> int:
    with demo.app.app_context():
        return db.session.scalar(
            select(Decision.id)
            .where(Decision.patient_id == demo.alex, Decision.status == status)
            .order_by(Decision.id)
        )


def open_decision(demo) -> dict:
    return {"patient_id": demo.alex, "decision_id": _decision(demo, DecisionStatus.OPEN)}


def unrated_decision(demo) -> dict:
    """The decided demo decision, its CollaboRATE answer removed so it can be answered."""
    decision_id = _decision(demo, DecisionStatus.DECIDED)
    with demo.app.app_context():
        db.session.execute(
            delete(CollaborateAnswer).where(CollaborateAnswer.decision_id == decision_id)
        )
        db.session.commit()
    return {"patient_id": demo.alex, "decision_id": decision_id}


def first_option(demo) -> int:
    with demo.app.app_context():
        return db.session.scalar(
            select(DecisionOption.id)
            .where(DecisionOption.decision_id == _decision(demo, DecisionStatus.OPEN))
            .order_by(DecisionOption.position)
        )


def new_form(demo) -> dict:
    return {
        "question": "Where would you like to have your physio?",
        "decide_by": (date.today() + timedelta(days=10)).isoformat(),
        "options-0-title": "At the clinic",
        "options-1-title": "At home, by video",
    }


def outcome_form(demo) -> dict:
    return {
        "option_id": first_option(demo),
        "participants": [demo.users["alex@example.com"], demo.users["rivera@example.com"]],
    }


SCORES = {"understand": 8, "listen": 9, "include": 9}
SURE = {"sure": "yes", "understand": "yes", "risk_benefit": "no", "encouragement": "yes"}

ROUTES = [
    Case("decisions.index", patient_page()),
    Case("decisions.new", TEAM_ONLY),
    Case("decisions.new", TEAM_ONLY_DONE, method="POST", form=new_form),
    Case("decisions.detail", patient_page(), args=open_decision),
    Case(
        "decisions.lean",
        SELF_ONLY_DONE,
        method="POST",
        args=open_decision,
        form=lambda demo: {"option_id": first_option(demo), "why": "Fewer trips"},
    ),
    Case("decisions.sure", SELF_ONLY_DONE, method="POST", args=open_decision, form=lambda d: SURE),
    Case(
        "decisions.post_message",
        BOTH_DONE,
        method="POST",
        args=open_decision,
        form=lambda demo: {"body": "Matrix question"},
    ),
    Case("decisions.decide", TEAM_ONLY_DONE, method="POST", args=open_decision, form=outcome_form),
    Case("decisions.withdraw", TEAM_ONLY_DONE, method="POST", args=open_decision),
    Case(
        "decisions.collaborate",
        SELF_ONLY_DONE,
        method="POST",
        args=unrated_decision,
        form=lambda demo: {k: str(v) for k, v in SCORES.items()},
    ),
    Case(
        "decisions.report",
        {
            "anonymous": LOGIN,
            "patient": HIDDEN,
            "other_patient": HIDDEN,
            "team": 200,
            "off_team": 200,
        },
        args=lambda demo: {},
    ),
]

ROUTES += [
    Case("api.decisions_list", API),
    Case("api.decisions_get", API, args=open_decision),
    Case(
        "api.decisions_lean",
        API_SELF,
        method="POST",
        args=open_decision,
        json=lambda demo: {"option_id": first_option(demo), "why": "From the app"},
    ),
    Case(
        "api.decisions_sure",
        API_SELF_CREATED,
        method="POST",
        args=open_decision,
        json=lambda demo: {k: v == "yes" for k, v in SURE.items()},
    ),
    Case(
        "api.decisions_collaborate",
        API_SELF_CREATED,
        method="POST",
        args=unrated_decision,
        json=lambda demo: SCORES,
    ),
]
