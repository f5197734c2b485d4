"""Decisions on the plan, tried as people would: open, lean, SURE, record, CollaboRATE."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.careplan.models import PlanRevision
from portal.decisions.models import (
    CollaborateAnswer,
    Decision,
    DecisionOption,
    DecisionStatus,
)
from portal.extensions import db
from portal.notifications.models import Notification
from tests.conftest import text_of
from tests.factories import Clinic


@pytest.fixture()
def clinic(app):
    """Dr. Rivera and Jordan Lee on Alex's team; Dr. Chen on nobody's."""
    c = Clinic(app)
    c.rivera = c.clinician("Dr. Riley Rivera")
    c.lee = c.clinician("Jordan Lee", job_title="Behavioral health care manager")
    c.chen = c.clinician("Dr. Casey Chen")
    c.alex = c.patient("Alex", "Morgan")
    c.team(c.alex, c.rivera)
    c.team(c.alex, c.lee, role="Behavioral health care manager")
    return c


def in_days(n: int) -> str:
    return (date.today() + timedelta(days=n)).isoformat()


A1C = {
    "question": "How do we bring your A1c down?",
    "context": "Your last A1c was 8.4%.",
    "decide_by": in_days(14),
    "options-0-title": "Add a second medicine",
    "options-0-involves": "One more tablet each morning.",
    "options-0-benefits": "Lowers A1c by about 1 point for most people.",
    "options-0-risks": "Upset stomach for some weeks.",
    "options-0-burdens": "A prescription each month.",
    "options-1-title": "Eat differently and walk more first",
    "options-1-involves": "Meet the dietitian; walk 30 minutes a day.",
    "options-1-benefits": "No new medicine; more energy.",
    "options-1-risks": "May not lower A1c enough on its own.",
    "options-1-burdens": "Time to cook and walk.",
}


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def notices(app, kind: str) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(select(Notification.user_id).where(Notification.kind == kind))
        )


def open_a1c(clinic) -> int:
    rivera = clinic.login(clinic.rivera.email)
    response = rivera.submit(f"/p/{clinic.alex.id}/decisions/new", A1C)
    assert response.status_code == 303, text_of(response)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_the_issue_acceptance_from_opening_to_the_report(app, clinic):
    """Dr. Rivera opens a two-option decision; Alex leans, SURE has one "no"; not ready;
    the decision is recorded; Alex answers CollaboRATE; the report counts it."""
    pid = clinic.alex.id
    rivera = clinic.login(clinic.rivera.email)
    page = rivera.get(f"/p/{pid}/decisions/new")
    assert page.status_code == 200
    decision_id = open_a1c(clinic)
    assert notices(app, "decision_opened") == [clinic.alex.user.id]

    alex = clinic.login(clinic.alex.email)
    detail = alex.get(f"/p/{pid}/decisions/{decision_id}")
    text = text_of(detail)
    assert "How do we bring your A1c down?" in text
    assert "Add a second medicine" in text and "Eat differently and walk more first" in text
    assert "Upset stomach for some weeks." in text  # the risks, in plain words
    with app.app_context():
        options = list(
            db.session.scalars(
                select(DecisionOption.id)
                .where(DecisionOption.decision_id == decision_id)
                .order_by(DecisionOption.position)
            )
        )
    base = f"/p/{pid}/decisions/{decision_id}"
    lean = alex.submit(
        base + "/lean", {"option_id": options[1], "why": "I would rather not add pills"}
    )
    assert lean.status_code == 303
    sure = alex.submit(
        base + "/sure",
        {"sure": "no", "understand": "yes", "risk_benefit": "yes", "encouragement": "yes"},
    )
    assert sure.status_code == 303
    assert sorted(notices(app, "decision_not_ready")) == sorted([clinic.rivera.id, clinic.lee.id])

    plan = text_of(rivera.get(f"/p/{pid}/plan"))
    assert "How do we bring your A1c down?" in plan and "Not ready to decide" in plan
    seen = text_of(rivera.get(base))
    assert "Not ready yet" in seen and "sure of myself" in seen
    assert "leans towards “Eat differently and walk more first”" in seen
    assert "I would rather not add pills" in seen

    decided = rivera.submit(
        base + "/decide",
        {
            "option_id": options[1],
            "participants": [clinic.alex.user.id, clinic.rivera.id],
            "revisit_on": in_days(90),
            "plan_link": "activity",
        },
    )
    assert decided.status_code == 303, text_of(decided)
    history = text_of(rivera.get(f"/p/{pid}/plan/history"))
    assert (
        "Decided “How do we bring your A1c down?”: Eat differently and walk more first" in history
    )
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert decision.status is DecisionStatus.DECIDED and decision.activity_id is not None
    outcome = text_of(alex.get(base))
    assert "What was decided" in outcome and "On the plan as an activity" in outcome

    rated = alex.submit(base + "/collaborate", {"understand": "9", "listen": "9", "include": "8"})
    assert rated.status_code == 303, text_of(rated)
    assert count(app, CollaborateAnswer) == 1

    report = text_of(rivera.get("/clinic/decisions/report"))
    # One answer: counted, but its scores are Alex's own rating, so they are not shown.
    assert "Answers 1" in report and "8.7" not in report
    assert "Top scores Not shown : fewer than 5 answers" in report
    assert "Dr. Riley Rivera" in report  # took part
    # Jordan Lee is on the team but did not take part: no row of their own.
    assert "Jordan Lee" not in report.split("By clinician", 1)[1]


def test_fewer_than_two_options_writes_nothing(app, clinic):
    rivera = clinic.login(clinic.rivera.email)
    data = {k: v for k, v in A1C.items() if not k.startswith("options-1-")}
    response = rivera.submit(f"/p/{clinic.alex.id}/decisions/new", data)
    assert response.status_code == 422
    assert "Give at least two options" in text_of(response)
    assert 'value="Add a second medicine"' in response.get_data(as_text=True)  # kept, not lost
    assert count(app, Decision) == 0 and count(app, DecisionOption) == 0
    assert notices(app, "decision_opened") == []


def test_empty_slots_are_ignored_and_a_half_filled_option_is_named(app, clinic):
    rivera = clinic.login(clinic.rivera.email)
    data = {**A1C, "options-3-risks": "Something, but no title"}
    response = rivera.submit(f"/p/{clinic.alex.id}/decisions/new", data)
    assert response.status_code == 422
    assert 'href="#options-3-title"' in response.get_data(as_text=True)
    assert count(app, Decision) == 0
    assert open_a1c(clinic)
    assert count(app, DecisionOption) == 2


def test_all_four_yes_is_ready_and_nobody_is_told(app, clinic):
    decision_id = open_a1c(clinic)
    alex = clinic.login(clinic.alex.email)
    yes = dict.fromkeys(("sure", "understand", "risk_benefit", "encouragement"), "yes")
    response = alex.submit(f"/p/{clinic.alex.id}/decisions/{decision_id}/sure", yes)
    assert response.status_code == 303
    assert notices(app, "decision_not_ready") == []
    rivera = clinic.login(clinic.rivera.email)
    assert "Ready to decide" in text_of(rivera.get(f"/p/{clinic.alex.id}/plan"))


def test_a_missing_sure_answer_is_named_and_nothing_is_written(app, clinic):
    decision_id = open_a1c(clinic)
    alex = clinic.login(clinic.alex.email)
    response = alex.submit(
        f"/p/{clinic.alex.id}/decisions/{decision_id}/sure", {"sure": "yes", "understand": "no"}
    )
    assert response.status_code == 422
    assert 'href="#risk_benefit"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Decision, decision_id).ready is None


def test_collaborate_waits_for_the_decision_and_is_answered_once(app, clinic):
    decision_id = open_a1c(clinic)
    alex = clinic.login(clinic.alex.email)
    base = f"/p/{clinic.alex.id}/decisions/{decision_id}"
    scores = {"understand": "9", "listen": "9", "include": "9"}
    early = alex.submit(base + "/collaborate", scores)
    assert early.status_code == 422 and "once the decision has been made" in text_of(early)
    with app.app_context():
        option = db.session.scalar(
            select(DecisionOption.id).where(DecisionOption.decision_id == decision_id)
        )
    rivera = clinic.login(clinic.rivera.email)
    recorded = rivera.submit(
        base + "/decide", {"option_id": option, "participants": [clinic.rivera.id]}
    )
    assert recorded.status_code == 303
    bad = alex.submit(base + "/collaborate", {**scores, "listen": "10"})
    assert bad.status_code == 422 and count(app, CollaborateAnswer) == 0
    assert alex.submit(base + "/collaborate", scores).status_code == 303
    again = alex.submit(base + "/collaborate", scores)
    assert again.status_code == 422 and count(app, CollaborateAnswer) == 1
    report = text_of(rivera.get("/clinic/decisions/report"))
    assert "Answers 1" in report and "1 of 1" not in report


def test_the_team_cannot_lean_and_the_patient_cannot_record(app, clinic):
    decision_id = open_a1c(clinic)
    base = f"/p/{clinic.alex.id}/decisions/{decision_id}"
    rivera = clinic.login(clinic.rivera.email)
    assert rivera.submit(base + "/lean", {"option_id": "unsure"}).status_code == 403
    alex = clinic.login(clinic.alex.email)
    assert alex.submit(base + "/decide", {}).status_code == 403
    assert alex.get(f"/p/{clinic.alex.id}/decisions/new").status_code == 403
    chen = clinic.login(clinic.chen.email)
    assert chen.get(base).status_code == 404
    assert count(app, PlanRevision, PlanRevision.item_type == "decision") == 0


def test_questions_in_the_thread_reach_the_other_side(app, clinic):
    decision_id = open_a1c(clinic)
    base = f"/p/{clinic.alex.id}/decisions/{decision_id}"
    alex = clinic.login(clinic.alex.email)
    asked = alex.submit(base + "/messages", {"body": "Would the tablet affect my kidneys?"})
    assert asked.status_code == 303
    assert set(notices(app, "patient_activity")) == {clinic.rivera.id, clinic.lee.id}
    rivera = clinic.login(clinic.rivera.email)
    assert "Would the tablet affect my kidneys?" in text_of(rivera.get(base))
    answered = rivera.submit(
        base + "/messages", {"body": "No: it is safe at your kidney function."}
    )
    assert answered.status_code == 303
    assert notices(app, "decision_reply") == [clinic.alex.user.id]
    empty = alex.submit(base + "/messages", {"body": "  "})
    assert empty.status_code == 422


def test_a_near_date_to_decide_by_reminds_the_patient_and_team_once(app, clinic):
    from portal.decisions.reminders import enqueue_decide_by_reminders
    from portal.notifications import kinds
    from portal.notifications.reminders import enqueue_due_reminders

    rivera = clinic.login(clinic.rivera.email)
    later = {**A1C, "decide_by": in_days(10)}
    assert rivera.submit(f"/p/{clinic.alex.id}/decisions/new", later).status_code == 303
    soon = {**A1C, "question": "Which clinic for your eye check?", "decide_by": in_days(1)}
    assert rivera.submit(f"/p/{clinic.alex.id}/decisions/new", soon).status_code == 303
    with app.app_context():
        assert enqueue_due_reminders() == 3  # with the goal reminders, every notify pass
        db.session.commit()
        assert enqueue_decide_by_reminders() == 0  # once
        db.session.commit()
    expected = [clinic.alex.user.id, clinic.rivera.id, clinic.lee.id]
    assert sorted(notices(app, "decision_due")) == sorted(expected)
    result = app.test_cli_runner().invoke(args=["decisions", "remind"])
    assert result.exit_code == 0 and "0 decide-by reminders" in result.output
    # No health information leaves in a push: the words are the kind's, fixed.
    for name in ("decision_opened", "decision_not_ready", "decision_due", "decision_reply"):
        words = kinds.kind(name).title + kinds.kind(name).body
        assert "A1c" not in words and "eye" not in words


def test_a_sensitive_decision_is_hidden_from_an_access_without_the_sensitive_scope(app, clinic):
    """Caregivers see sensitive items only when their grant says so (Access.item_filter)."""
    from dataclasses import replace

    from werkzeug.exceptions import NotFound

    from portal.access import Scope
    from portal.decisions import reading

    rivera = clinic.login(clinic.rivera.email)
    private = {**A1C, "question": "Which talking therapy?", "sensitivity": "behavioral_health"}
    assert rivera.submit(f"/p/{clinic.alex.id}/decisions/new", private).status_code == 303
    open_a1c(clinic)
    with app.app_context():
        alex = clinic._access(clinic.alex.user.id, clinic.alex.id)
        assert len(reading.list_decisions(alex)) == 2
        narrow = replace(alex, scopes=alex.scopes - {Scope.SENSITIVE})
        shown = reading.list_decisions(narrow)
        assert [row.question for row in shown] == ["How do we bring your A1c down?"]
        hidden = db.session.scalar(select(Decision.id).where(Decision.sensitivity.is_not(None)))
        with pytest.raises(NotFound):
            reading.load_page(narrow, hidden)
        db.session.rollback()


def test_a_withdrawn_decision_leaves_the_plan_and_takes_no_more_answers(app, clinic):
    decision_id = open_a1c(clinic)
    base = f"/p/{clinic.alex.id}/decisions/{decision_id}"
    rivera = clinic.login(clinic.rivera.email)
    assert "Withdraw this decision" in text_of(rivera.get(base))
    assert rivera.submit(base + "/withdraw").status_code == 303
    assert "How do we bring your A1c down?" not in text_of(rivera.get(f"/p/{clinic.alex.id}/plan"))
    listed = text_of(rivera.get(f"/p/{clinic.alex.id}/decisions"))
    assert "How do we bring your A1c down?" in listed and "Withdrawn" in listed
    alex = clinic.login(clinic.alex.email)
    late = alex.submit(base + "/lean", {"option_id": "unsure"})
    assert late.status_code == 422 and "This decision is withdrawn" in text_of(late)
    assert rivera.submit(base + "/withdraw").status_code == 422


def test_the_patients_home_says_a_decision_is_next(app, clinic):
    decision_id = open_a1c(clinic)
    alex = clinic.login(clinic.alex.email)
    home = alex.get(f"/p/{clinic.alex.id}/")
    assert "A decision to make How do we bring your A1c down?" in text_of(home)
    assert f"/p/{clinic.alex.id}/decisions/{decision_id}" in home.get_data(as_text=True)
