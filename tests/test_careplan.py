"""The shared plan from both sides: revisions, agreement, edits, the team, audit."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.careplan.models import Activity, CareTeamMember, Concern, PlanRevision
from portal.extensions import db
from portal.goals.models import Goal
from portal.patients import Patient
from tests.conftest import text_of


def _count(app, model, **where):
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def _first_id(app, model, patient_id, **where):
    with app.app_context():
        query = select(model.id).where(model.patient_id == patient_id).order_by(model.id)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def test_patient_sees_team_with_roles_and_disciplines(demo):
    text = text_of(demo.login("alex@example.com").get(f"/p/{demo.alex}/plan"))
    for name, role in [
        ("Dr. Riley Rivera", "Primary care physician"),
        ("Jordan Lee", "Behavioral health care manager"),
        ("Dr. Morgan Patel", "Psychiatric consultant"),
        ("Taylor Brooks", "Dietitian"),
        ("Jamie Fox", "Social worker"),
        ("Avery Kim", "Clinical pharmacist"),
        ("Dr. Sasha Novak", "Endocrinologist"),
    ]:
        assert name in text and role in text


def test_plan_shows_social_needs_and_marks_sensitive_items(demo):
    text = text_of(demo.login("alex@example.com").get(f"/p/{demo.alex}/plan"))
    assert "Rent is hard to cover" in text
    assert "Social needs" in text
    assert "Low mood and worry" in text
    assert "Sensitive: behavioral health" in text
    assert "Only the patient and their care team can see this" in text


def test_clinician_sees_same_plan_with_edit_controls(demo):
    rivera = demo.login("rivera@example.com").get(f"/p/{demo.alex}/plan")
    alex = demo.login("alex@example.com").get(f"/p/{demo.alex}/plan")
    assert "Add a concern" in text_of(rivera) and "Add a concern" not in text_of(alex)
    for title in ("Type 2 diabetes", "Walk 30 minutes a day", "Low mood and worry"):
        assert title in text_of(rivera) and title in text_of(alex)


def test_whats_changed_since_last_look_and_mark_read(demo):
    alex = demo.login("alex@example.com")
    first = text_of(alex.get(f"/p/{demo.alex}/plan"))
    assert "What changed since you last looked" in first
    alex.submit(f"/p/{demo.alex}/plan/seen")
    assert "What changed since you last looked" not in text_of(alex.get(f"/p/{demo.alex}/plan"))

    rivera = demo.login("rivera@example.com")
    response = rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "Knee pain when climbing stairs", "category": "physical", "status": "active"},
    )
    assert response.status_code == 302
    text = text_of(alex.get(f"/p/{demo.alex}/plan"))
    assert "What changed since you last looked" in text
    assert "Added health concern “Knee pain when climbing stairs”" in text
    assert "by Dr. Riley Rivera" in text


def test_patient_agrees_and_a_later_change_asks_again(demo, app):
    alex = demo.login("alex@example.com")
    alex.submit(f"/p/{demo.alex}/plan/agree")
    assert "You agree with this plan as it is now" in text_of(alex.get(f"/p/{demo.alex}/plan"))
    rivera = demo.login("rivera@example.com")
    panel = text_of(rivera.get("/clinic/"))
    assert panel.count("Plan not yet agreed") == 1  # Blake's, not Alex's
    concern = _first_id(app, Concern, demo.alex)
    rivera.submit(
        f"/p/{demo.alex}/plan/concern/{concern}/edit",
        {
            "title": "Type 2 diabetes",
            "category": "physical",
            "status": "active",
            "detail": "A1c down to 7.4%.",
        },
    )
    assert "changed since you last agreed" in text_of(alex.get(f"/p/{demo.alex}/plan"))
    assert "has not yet agreed" in text_of(rivera.get(f"/p/{demo.alex}/plan"))


def test_edit_records_a_revision_with_only_what_changed(demo, app):
    rivera = demo.login("rivera@example.com")
    concern = _first_id(app, Concern, demo.alex)
    before = _count(app, PlanRevision, patient_id=demo.alex)
    rivera.submit(
        f"/p/{demo.alex}/plan/concern/{concern}/edit",
        {
            "title": "Type 2 diabetes",
            "category": "physical",
            "status": "active",
            "detail": "A1c down to 7.4%.",
        },
    )
    with app.app_context():
        rev = db.session.scalars(
            select(PlanRevision).order_by(PlanRevision.version.desc()).limit(1)
        ).one()
        assert rev.action == "changed" and list(rev.changes) == ["detail"]
        assert rev.changes["detail"][1] == "A1c down to 7.4%."
        assert rev.actor_name == "Dr. Riley Rivera" and rev.actor_relation == "care_team"
        assert db.session.get(Patient, demo.alex).plan_version == rev.version
    assert _count(app, PlanRevision, patient_id=demo.alex) == before + 1
    history = text_of(demo.login("alex@example.com").get(f"/p/{demo.alex}/plan/history"))
    assert "Changed health concern “Type 2 diabetes”: detail" in history
    # Saving without a change records nothing.
    rivera.submit(
        f"/p/{demo.alex}/plan/concern/{concern}/edit",
        {
            "title": "Type 2 diabetes",
            "category": "physical",
            "status": "active",
            "detail": "A1c down to 7.4%.",
        },
    )
    assert _count(app, PlanRevision, patient_id=demo.alex) == before + 1


def test_bad_input_gets_a_clear_message_and_writes_nothing(demo, app):
    rivera = demo.login("rivera@example.com")
    revisions = _count(app, PlanRevision)
    concerns = _count(app, Concern)
    response = rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "", "category": "nonsense", "status": "active"},
    )
    assert response.status_code == 422
    text = text_of(response)
    assert "There is a problem" in text and "Enter a short title" in text
    assert _count(app, Concern) == concerns and _count(app, PlanRevision) == revisions
    long_title = rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "x" * 201, "category": "physical", "status": "active"},
    )
    assert long_title.status_code == 422 and "under 200 characters" in text_of(long_title)


def test_activity_assigned_to_team_member_patient_or_caregiver(demo, app):
    rivera = demo.login("rivera@example.com")
    for assignee, shown in [  # each as the patient will read it
        (f"user:{demo.users['brooks@example.com']}", "Taylor Brooks does this"),
        ("patient", "You do this"),
        ("caregiver", "A family caregiver does this"),
    ]:
        response = rivera.submit(
            f"/p/{demo.alex}/plan/activity/new",
            {
                "title": f"Task for {assignee}",
                "discipline": "nutrition",
                "assignee": assignee,
                "status": "planned",
            },
        )
        assert response.status_code == 302, text_of(response)
        text = text_of(demo.login("alex@example.com").get(f"/p/{demo.alex}/plan"))
        assert shown in text
    # Someone off the team cannot be assigned (the choice is not offered, and is refused).
    off_team = rivera.submit(
        f"/p/{demo.alex}/plan/activity/new",
        {
            "title": "Sneaky",
            "discipline": "nutrition",
            "assignee": f"user:{demo.users['chen@example.com']}",
            "status": "planned",
        },
    )
    assert off_team.status_code == 422


def test_retire_keeps_history_and_hides_from_live_plan(demo, app):
    rivera = demo.login("rivera@example.com")
    goal = _first_id(app, Goal, demo.alex)
    with app.app_context():
        title = db.session.get(Goal, goal).title
    rivera.submit(f"/p/{demo.alex}/plan/goal/{goal}/retire")
    alex = demo.login("alex@example.com")
    alex.submit(f"/p/{demo.alex}/plan/seen")  # past changes read: only the live plan remains
    assert title not in text_of(alex.get(f"/p/{demo.alex}/plan"))
    assert f"Retired goal “{title}”" in text_of(alex.get(f"/p/{demo.alex}/plan/history"))
    again = rivera.submit(f"/p/{demo.alex}/plan/goal/{goal}/retire")
    assert again.status_code == 302  # explained with a message, nothing changes
    assert "already retired" in text_of(rivera.get(f"/p/{demo.alex}/plan"))


def test_manage_the_care_team(demo, app):
    rivera = demo.login("rivera@example.com")
    response = rivera.submit(
        f"/p/{demo.alex}/team",
        {
            "user_id": demo.users["chen@example.com"],
            "role": "Covering physician",
            "discipline": "primary_care",
        },
    )
    assert response.status_code == 302
    chen = demo.login("chen@example.com")
    assert chen.get(f"/p/{demo.alex}/plan").status_code == 200  # now on the team
    member = _first_id(app, CareTeamMember, demo.alex, user_id=demo.users["chen@example.com"])
    rivera.submit(f"/p/{demo.alex}/team/{member}/remove")
    assert chen.get(f"/p/{demo.alex}/plan").status_code == 404  # off again, at once
    history = text_of(rivera.get(f"/p/{demo.alex}/plan/history"))
    assert "Dr. Casey Chen joined the care team" in history
    assert "Dr. Casey Chen left the care team" in history


def test_the_last_team_member_stays(demo, app):
    chen = demo.login("chen@example.com")
    with app.app_context():
        for member in db.session.scalars(
            select(CareTeamMember).where(CareTeamMember.patient_id == demo.blake)
        ):
            if member.user_id != demo.users["chen@example.com"]:
                db.session.delete(member)
        db.session.commit()
    mine = _first_id(app, CareTeamMember, demo.blake, user_id=demo.users["chen@example.com"])
    chen.submit(f"/p/{demo.blake}/team/{mine}/remove")
    assert "at least one care-team member" in text_of(chen.get(f"/p/{demo.blake}/team"))
    assert chen.get(f"/p/{demo.blake}/plan").status_code == 200


def test_every_read_and_write_is_audited(demo, app):
    alex = demo.login("alex@example.com")
    alex.get(f"/p/{demo.alex}/plan")
    rivera = demo.login("rivera@example.com")
    rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "Knee pain", "category": "physical", "status": "active"},
    )
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        read = [
            e for e in events if e.action == "read" and e.actor_id == demo.users["alex@example.com"]
        ]
        assert read and read[-1].relation == "self" and read[-1].patient_id == demo.alex
        create = [e for e in events if e.action == "create" and e.object_type == "concern"]
        assert create[-1].actor_id == demo.users["rivera@example.com"]
        assert create[-1].relation == "care_team"


def test_audit_rolls_back_with_a_failed_change(demo, app, monkeypatch):
    """The audit row and the change share one transaction: a failure leaves neither."""
    from portal.careplan import services

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "record_revision", explode)
    rivera = demo.login("rivera@example.com")
    audits, concerns = _count(app, AuditEvent), _count(app, Concern)
    response = rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "Knee pain", "category": "physical", "status": "active"},
    )
    assert response.status_code == 500
    assert "Nothing you entered was saved" in text_of(response)
    assert _count(app, Concern) == concerns
    assert _count(app, AuditEvent) == audits


def test_denied_requests_leave_nothing_behind_but_their_refusal(demo, app):
    blake = demo.login("blake@example.com")
    concern = _first_id(app, Concern, demo.alex)
    before = _count(app, AuditEvent)  # the chain numbers rows 1, 2, 3 ...
    assert blake.get(f"/p/{demo.alex}/plan").status_code == 404
    assert blake.submit(f"/p/{demo.alex}/plan/concern/{concern}/retire").status_code == 404
    with app.app_context():
        new = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)
        ).all()
        status = db.session.get(Concern, concern).status
    assert [(e.action, e.path) for e in new] == [
        ("refused", f"GET /p/{demo.alex}/plan"),
        ("refused", f"POST /p/{demo.alex}/plan/concern/{concern}/retire"),
    ]
    assert status.value == "active"  # the refused change left nothing behind


def test_panel_search_and_sort(demo):
    rivera = demo.login("rivera@example.com")
    text = text_of(rivera.get("/clinic/?q=ortiz"))
    assert "Blake Ortiz" in text and "Alex Morgan" not in text
    assert "No patients on your panel match" in text_of(rivera.get("/clinic/?q=zzz"))
    lee = text_of(demo.login("lee@example.com").get("/clinic/"))
    assert "Alex Morgan" in lee and "Blake Ortiz" not in lee
    by_update = rivera.get("/clinic/?sort=updated")
    assert by_update.status_code == 200


def test_items_of_another_patient_answer_404_even_by_id(demo, app):
    rivera = demo.login("rivera@example.com")
    blakes_concern = _first_id(app, Concern, demo.blake)
    # Rivera is on both teams, but Blake's concern is not part of Alex's plan.
    response = rivera.get(f"/p/{demo.alex}/plan/concern/{blakes_concern}/edit")
    assert response.status_code == 404
    assert rivera.get(f"/p/{demo.alex}/plan/widget/1/edit").status_code == 404


def test_sensitive_flag_round_trip(demo, app):
    rivera = demo.login("rivera@example.com")
    rivera.submit(
        f"/p/{demo.alex}/plan/activity/new",
        {
            "title": "Alcohol use check-in",
            "discipline": "behavioral_health",
            "assignee": "patient",
            "status": "planned",
            "sensitivity": "substance_use",
        },
    )
    with app.app_context():
        activity = db.session.scalars(
            select(Activity).where(Activity.title == "Alcohol use check-in")
        ).one()
        assert activity.sensitive and activity.sensitivity.value == "substance_use"
        rev = db.session.scalars(
            select(PlanRevision).order_by(PlanRevision.version.desc()).limit(1)
        ).one()
        assert rev.sensitive
    text = text_of(demo.login("alex@example.com").get(f"/p/{demo.alex}/plan"))
    assert "Sensitive: substance use" in text


def test_missing_or_unknown_choice_gets_a_plain_message(demo, app):
    rivera = demo.login("rivera@example.com")
    response = rivera.submit(
        f"/p/{demo.alex}/plan/concern/new",
        {"title": "Knee pain", "category": "astrology", "status": "active"},
    )
    assert response.status_code == 422
    assert "Choose one of the options for “Kind of concern”" in text_of(response)


def test_plan_change_notifies_the_patient_once_an_hour(demo, app):
    from portal.notifications.models import Notification

    assert _count(app, Notification) == 0  # the seeded demo is nobody's news
    rivera = demo.login("rivera@example.com")
    for title in ("Knee pain", "Back pain"):
        rivera.submit(
            f"/p/{demo.alex}/plan/concern/new",
            {"title": title, "category": "physical", "status": "active"},
        )
    with app.app_context():
        notices = db.session.scalars(select(Notification)).all()
        assert [(n.kind, n.user_id, n.url) for n in notices] == [
            ("plan_changed", demo.users["alex@example.com"], f"/p/{demo.alex}/plan")
        ]


WHATS_NEXT = "What\u2019s next"  # the page uses a typographic apostrophe


def test_home_shows_whats_next_and_the_latest_changes(demo, app):
    """The home shows the patient's next activity and what the team changed, newest first."""
    with app.app_context():
        newest = db.session.scalars(
            select(PlanRevision)
            .where(PlanRevision.patient_id == demo.alex)
            .order_by(PlanRevision.version.desc())
            .limit(1)
        ).one()
        newest = (newest.summary, newest.actor_name)
    text = text_of(demo.login("alex@example.com").get(f"/p/{demo.alex}/"))
    assert WHATS_NEXT in text
    assert "Apply for emergency rental assistance" in text  # the patient's dated activity
    said = text.split("What your team said", 1)[1].split(WHATS_NEXT, 1)[0]
    assert said.index(newest[0]) < said.index("Read your updated plan")
    assert newest[1] in said
    # Activities for the team are not the patient's to do.
    next_block = text.split(WHATS_NEXT, 1)[1]
    assert "Check A1c and kidney function" not in next_block.split("See your full care plan")[0]
