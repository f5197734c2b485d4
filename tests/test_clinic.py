"""The clinician's lists: who they may see is decided once, and each view is one audit event."""

from __future__ import annotations

from sqlalchemy import select, text, update

from portal.access import CARE_TEAM_PATIENTS, care_team_params, resolve
from portal.audit import listed
from portal.audit.log import patient_access_log
from portal.audit.models import AuditEvent
from portal.auth.models import User
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from portal.goals.models import Goal
from tests.conftest import indexed_patients, text_of

RIVERA = "rivera@example.com"
WALK = "Walk 30 minutes a day"


def _walk(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Goal.id).where(Goal.title == WALK))


def _visible(app, email: str, demo) -> set[int]:
    with app.app_context():
        user = db.session.get(User, demo.users[email])
        return _listed(user)


def _listed(user: User) -> set[int]:
    """The patients the one list rule shows `user`."""
    return set(db.session.scalars(select(CARE_TEAM_PATIENTS.c.patient_id), care_team_params(user)))


def test_an_ended_membership_leaves_panel_inbox_flags_and_pages_at_once(demo, app):
    rivera = demo.login(RIVERA)
    walk = _walk(app)
    thread = f"/p/{demo.alex}/goals/{walk}"
    panel = text_of(rivera.get("/clinic/"))
    assert "Alex Morgan" in panel and "Awaiting reply" in panel
    assert WALK in text_of(rivera.get("/clinic/inbox"))
    assert rivera.get(thread).status_code == 200
    with app.app_context():  # raw SQL, as an admin script would end it
        db.session.execute(
            text("UPDATE care_team_members SET ended_at = CURRENT_TIMESTAMP WHERE user_id = :u"),
            {"u": demo.users[RIVERA]},
        )
        db.session.commit()
    panel = text_of(rivera.get("/clinic/"))
    assert "Alex Morgan" not in panel and "Blake Ortiz" not in panel
    assert "Awaiting reply" not in panel
    assert WALK not in text_of(rivera.get("/clinic/inbox"))
    assert rivera.get(thread).status_code == 404
    assert _visible(app, RIVERA, demo) == set()
    # Jordan Lee's membership did not end: the same rule still shows Alex to them.
    lee = demo.login("lee@example.com")
    assert WALK in text_of(lee.get("/clinic/inbox"))
    assert lee.get(thread).status_code == 200


def test_the_list_rule_and_the_page_rule_agree_for_every_user_and_patient(demo, app):
    with app.app_context():
        db.session.execute(  # one ended membership, so the rule has something to exclude
            update(CareTeamMember)
            .where(CareTeamMember.user_id == demo.users["lee@example.com"])
            .values(ended_at=db.func.now())
        )
        db.session.commit()
        for user in db.session.scalars(select(User)):
            listed = _listed(user)
            pages = {
                pid
                for pid in demo.patients.values()
                if (access := resolve(user, pid)) is not None and access.is_care_team
            }
            assert listed == pages, user.email


def test_only_active_clinician_accounts_see_patients_as_care_team(demo, app):
    assert _visible(app, RIVERA, demo) == {demo.alex, demo.blake}
    assert _visible(app, "alex@example.com", demo) == set()
    with app.app_context():
        db.session.execute(
            update(User).where(User.id == demo.users[RIVERA]).values(is_active_account=False)
        )
        # A patient account put on a team by mistake is not care team either.
        db.session.add(
            CareTeamMember(
                patient_id=demo.blake,
                user_id=demo.users["alex@example.com"],
                role="Neighbour",
                discipline="primary_care",
            )
        )
        db.session.commit()
    assert _visible(app, RIVERA, demo) == set()
    assert _visible(app, "alex@example.com", demo) == set()


def _events(app, object_type: str) -> list[tuple[int, list[int]]]:
    """The list events of this kind, with their patients in the access log's index.

    The index is written after the view, as the deliverer's loop does it.
    """
    with app.app_context():
        listed.index_all(db.session)
        ids = db.session.scalars(
            select(AuditEvent.id).where(AuditEvent.object_type == object_type)
        ).all()
        return [(event_id, indexed_patients(event_id)) for event_id in ids]


def test_a_panel_view_is_one_audit_event_naming_every_patient(demo, app):
    demo.login(RIVERA).get("/clinic/")
    [(_, patients)] = _events(app, "panel")
    assert patients == sorted([demo.alex, demo.blake])
    with app.app_context():
        assert patient_access_log(demo.blake)[0].summary() == (
            "Dr. Riley Rivera saw you on their list of patients"
        )


def test_a_search_names_only_the_patients_it_found(demo, app):
    response = demo.login(RIVERA).get("/clinic/?q=ortiz")
    assert "Blake Ortiz" in text_of(response) and "Alex Morgan" not in text_of(response)
    [(_, patients)] = _events(app, "panel_search")
    assert patients == [demo.blake]
    with app.app_context():
        alex_log = [e.summary() for e in patient_access_log(demo.alex)]
    assert not any("search" in line for line in alex_log)


def test_a_list_that_shows_nobody_is_still_one_event(demo, app):
    demo.login(RIVERA).get("/clinic/?q=nobody-has-this-name")
    assert [patients for _, patients in _events(app, "panel_search")] == [[]]
    with app.app_context():
        names = db.session.scalar(
            select(AuditEvent.patient_ids).where(AuditEvent.object_type == "panel_search")
        )
    assert names == ""


def test_a_list_event_stands_or_falls_with_its_transaction(demo, app):
    from portal import audit

    rivera = demo.users[RIVERA]
    with app.app_context():
        audit.record_list(rivera, "panel", [demo.blake, demo.alex, demo.alex])
        db.session.rollback()
        db.session.commit()
        assert _events(app, "panel") == []
        audit.record_list(rivera, "panel", [demo.blake, demo.alex, demo.alex])
        db.session.commit()
    [(_, patients)] = _events(app, "panel")
    assert patients == sorted([demo.alex, demo.blake])
