"""Access matrix rows for the core: sign-in, the plan, the care team, the clinic panel."""

from sqlalchemy import select

from portal.careplan.models import Activity, CareTeamMember, Concern
from portal.extensions import db
from portal.goals.models import Goal
from tests.matrix import HIDDEN, LOGIN, Case, patient_page

ANYONE = {r: 200 for r in ("anonymous", "patient", "other_patient", "team", "off_team")}
SIGNED_IN_REDIRECT = {
    "anonymous": 200,
    "patient": 302,
    "other_patient": 302,
    "team": 302,
    "off_team": 302,
}
EDIT = patient_page(patient=403)  # the patient reads the plan; only the team edits it
EDIT_DONE = patient_page(patient=403, team=302)


def first(model, demo, **where):
    """The id of the first row of `model` for Alex."""
    with demo.app.app_context():
        query = select(model.id).where(model.patient_id == demo.alex).order_by(model.id)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def item(kind, model):
    return lambda demo: {"patient_id": demo.alex, "kind": kind, "item_id": first(model, demo)}


def concern_form(demo):
    return {"title": "Knee pain", "category": "physical", "status": "active", "sensitivity": ""}


def other_member(demo):
    member = first(CareTeamMember, demo, user_id=demo.users["lee@example.com"])
    return {"patient_id": demo.alex, "member_id": member}


ROUTES = [
    Case("health.healthz", ANYONE, args=lambda demo: {}),
    Case(
        "auth.index",
        {
            **ANYONE,
            "anonymous": 302,
            "patient": 302,
            "other_patient": 302,
            "team": 302,
            "off_team": 302,
        },
        args=lambda demo: {},
    ),
    Case("auth.login", SIGNED_IN_REDIRECT, args=lambda demo: {}),
    Case(
        "auth.login",
        {r: 422 for r in ANYONE},
        method="POST",
        args=lambda demo: {},
        form=lambda demo: {"email": "nobody@example.com", "password": "wrong password"},
    ),
    Case("auth.logout", {r: 302 for r in ANYONE}, method="POST", args=lambda demo: {}),
    # Patients land on their home and clinicians on the panel; /welcome is for
    # accounts linked to no patient, which any signed-in account may open.
    Case(
        "auth.no_patients", {**{r: 200 for r in ANYONE}, "anonymous": LOGIN}, args=lambda demo: {}
    ),
    Case("careplan.home", patient_page(team=302)),
    Case("careplan.plan", patient_page()),
    Case("careplan.history", patient_page()),
    Case("careplan.seen", patient_page(patient=302, team=302), method="POST"),
    Case("careplan.agree", patient_page(patient=302, team=403), method="POST"),
    Case("careplan.new_item", EDIT, args=lambda demo: {"patient_id": demo.alex, "kind": "concern"}),
    Case(
        "careplan.new_item",
        EDIT_DONE,
        method="POST",
        args=lambda demo: {"patient_id": demo.alex, "kind": "concern"},
        form=concern_form,
    ),
    Case("careplan.edit_item", EDIT, args=item("concern", Concern)),
    Case(
        "careplan.edit_item",
        EDIT_DONE,
        method="POST",
        args=item("concern", Concern),
        form=concern_form,
    ),
    Case("careplan.retire_item", EDIT_DONE, method="POST", args=item("activity", Activity)),
    Case(
        "careplan.retire_item", EDIT_DONE, method="POST", args=item("goal", Goal), id="retire goal"
    ),
    Case("careplan.team", patient_page()),
    Case(
        "careplan.team",
        patient_page(patient=403, team=302),
        method="POST",
        form=lambda demo: {
            "user_id": demo.users["chen@example.com"],
            "role": "Covering physician",
            "discipline": "primary_care",
        },
    ),
    Case("careplan.remove_member", EDIT_DONE, method="POST", args=other_member),
    Case(
        "clinic.panel",
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

ROUTES.append(Case("api.openapi", ANYONE, args=lambda demo: {}))
