"""Clinic staff end a guardian's access early, or a guardian invitation still waiting.

A court order, a safeguarding concern, a custody change, or an adolescent who
asks for confidential care: the lead clinician (`team:manage`) ends the
guardian's access from the team page, asked first, with a reason kept for the
record and never mailed. The guardian's next request in the same session gets
nothing, and they are told by mail, without the reason.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from portal.audit.models import AuditEvent
from portal.caregivers.models import Grant, GrantKind, Invitation
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import Notification
from portal.patients import Patient
from tests.conftest import text_of
from tests.factories import Clinic
from tests.mailbox import smtp  # noqa: F401  (fixture)

NOTE = "Court order 2026-114: the father may not see the record"


def _robin(demo) -> tuple[int, int]:
    """The demo's minor, and Blake's guardian grant for them."""
    with demo.app.app_context():
        robin = db.session.scalar(select(Patient.id).where(Patient.given_name == "Robin"))
        grant = db.session.scalar(
            select(Grant.id).where(Grant.patient_id == robin, Grant.kind == GrantKind.GUARDIAN)
        )
    return robin, grant


def test_the_lead_ends_a_guardians_access_and_their_next_request_gets_nothing(
    demo,
    smtp,  # noqa: F811
):
    robin, grant_id = _robin(demo)
    blake = demo.login("blake@example.com")
    assert blake.get(f"/p/{robin}/plan").status_code == 200
    assert robin in blake.get("/api/v1/me/patients").get_json()["patients"]

    chen = demo.login("chen@example.com")
    end_url = f"/p/{robin}/guardians/{grant_id}/end"
    team = chen.get(f"/p/{robin}/team").get_data(as_text=True)
    assert f'href="{end_url}"' in team and "End guardian access" in team

    # It asks first, naming the person and saying what happens.
    asked = chen.get(end_url)
    assert asked.status_code == 200
    words = text_of(asked)
    assert "End Blake Ortiz\u2019s access to Robin Ortiz\u2019s information?" in words
    assert "can no longer see or do anything" in words
    assert "deleted the next time it is online" in words
    assert "We email them" in words

    # A reason is required; "another reason" needs a few words.
    missing = chen.submit(end_url, {"note": NOTE})
    assert missing.status_code == 422 and "Choose why their access ends" in text_of(missing)
    vague = chen.submit(end_url, {"cause": "other"})
    assert vague.status_code == 422 and "Say in a few words" in text_of(vague)
    made_up = chen.submit(end_url, {"cause": "because"})
    assert made_up.status_code == 422
    assert blake.get(f"/p/{robin}/plan").status_code == 200  # nothing ended yet

    done = chen.submit(end_url, {"cause": "court_order", "note": NOTE})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/p/{robin}/team")
    told = text_of(chen.get(f"/p/{robin}/team"))
    assert "Blake Ortiz can no longer see or do anything for Robin Ortiz" in told
    assert "End guardian access" not in told
    # The care team keeps the record: why, and the note.
    assert "Guardian access ended by the clinic" in told
    assert "Why: A court order or other legal decision." in told and NOTE in told

    # Blake's next request, in the same session, finds nothing of Robin.
    for url in (
        f"/p/{robin}/",
        f"/p/{robin}/plan",
        f"/p/{robin}/team",
        f"/api/v1/patients/{robin}/goals",
    ):
        response = blake.get(url)
        assert response.status_code == 404, url
        assert "Robin" not in response.get_data(as_text=True)
    assert "Robin" not in text_of(blake.get("/helping"))
    assert robin not in blake.get("/api/v1/me/patients").get_json()["patients"]

    with demo.app.app_context():
        grant = db.session.get(Grant, grant_id)
        assert grant.revoked_at is not None and grant.ended_reason == "ended_by_clinic"
        assert (grant.end_cause, grant.end_note) == ("court_order", NOTE)
        audited = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "end_guardian", AuditEvent.object_id == grant_id
            )
        )
        assert audited.actor_id == demo.users["chen@example.com"]
        assert audited.patient_id == robin and audited.relation == "care_team"
        notices = db.session.scalars(
            select(Notification).where(Notification.user_id == demo.users["blake@example.com"])
        ).all()
        assert [n.kind for n in notices] == ["caregiving_ended"]
        assert "Court" not in notices[0].url

    # The guardian is told, without the reason or anything about Robin's health.
    mail = smtp.one_to("blake@example.com")
    assert mail.message["Subject"] == "Your access to Robin Ortiz's information has ended"
    assert "clinic ended your access" in mail.text
    for secret in ("Court", "court_order", "2026-114", "father", "Asthma", "anxious"):
        assert secret not in mail.text and secret not in mail.html

    # A second click (a page left open, a double tap) ends nothing and breaks nothing.
    again = chen.submit(end_url, {"cause": "safeguarding", "note": "second try"})
    assert again.status_code == 302
    assert "already ended" in text_of(chen.get(f"/p/{robin}/team"))
    assert chen.get(end_url).status_code == 302
    with demo.app.app_context():
        assert db.session.get(Grant, grant_id).end_note == NOTE


def _minor_with_team(app):
    clinic = Clinic(app)
    minor = clinic.patient("Robin", "Hale")
    lead = clinic.clinician("Dr. Casey Chen")
    member = clinic.clinician("Jordan Lee")
    clinic.team(minor, lead, lead=True)
    clinic.team(minor, member, role="Care manager")
    parent = clinic.caregiver("Jo Hale")
    helper = clinic.caregiver("Sam Hale")
    with app.app_context():
        db.session.execute(
            update(Patient)
            .where(Patient.id == minor.id)
            .values(birth_date=date.today() - timedelta(days=14 * 366))
        )
        grants = []
        for person, kind in ((parent, GrantKind.GUARDIAN), (helper, GrantKind.CAREGIVER)):
            grant = Grant(
                patient_id=minor.id,
                caregiver_id=person.id,
                kind=kind,
                relationship="Parent",
                scopes="plan:read goals:read",
                starts_at=utcnow() - timedelta(days=1),
                ends_at=utcnow() + timedelta(days=300),
            )
            db.session.add(grant)
            grants.append(grant)
        db.session.commit()
        ids = [g.id for g in grants]
    return clinic, minor, lead, member, parent, ids


def test_only_the_lead_clinician_may_end_a_guardians_access(app):
    clinic, minor, lead, member, parent, (guardian_grant, caregiver_grant) = _minor_with_team(app)
    end_url = f"/p/{minor.id}/guardians/{guardian_grant}/end"
    form = {"cause": "custody_change"}

    # A member who is not the lead sees no control, and the server refuses anyway.
    other = clinic.login(member.email)
    assert "End guardian access" not in text_of(other.get(f"/p/{minor.id}/team"))
    assert other.get(end_url).status_code == 403
    assert other.submit(end_url, form).status_code == 403
    # The patient and the guardian themself: the clinic decides this, not they.
    assert clinic.login(minor.email).submit(end_url, form).status_code == 403
    assert clinic.login(parent.email).submit(end_url, form).status_code == 403

    chief = clinic.login(lead.email)
    # Without the CSRF token nothing happens.
    assert chief.post(end_url, data=form).status_code == 400
    # Only a guardian grant of this patient: a caregiver's grant is the patient's to end.
    assert chief.get(f"/p/{minor.id}/guardians/{caregiver_grant}/end").status_code == 404
    assert chief.submit(f"/p/{minor.id}/guardians/999999/end", form).status_code == 404
    with app.app_context():
        assert db.session.get(Grant, guardian_grant).revoked_at is None
    assert chief.submit(end_url, form).status_code == 302
    with app.app_context():
        assert db.session.get(Grant, guardian_grant).ended_reason == "ended_by_clinic"
        assert db.session.get(Grant, caregiver_grant).revoked_at is None
    # The record of why is the team's: the patient's own team page does not show it.
    assert "Custody or guardianship changed" in text_of(other.get(f"/p/{minor.id}/team"))
    own = text_of(clinic.login(minor.email).get(f"/p/{minor.id}/team"))
    assert "Custody" not in own and "ended by the clinic" not in own


def test_staff_cancel_a_guardian_invitation_that_is_still_waiting(demo, smtp):  # noqa: F811
    robin, _grant = _robin(demo)
    chen = demo.login("chen@example.com")
    sent = chen.submit(
        f"/p/{robin}/guardian",
        {"name": "Jo Ortiz", "email": "jo@example.com", "relationship": "Father"},
    )
    assert sent.status_code == 302
    link = re.search(r"http://localhost(/invitation/[\w-]+)", smtp.one_to("jo@example.com").text)
    team = chen.get(f"/p/{robin}/team").get_data(as_text=True)
    assert "Guardian invitations waiting" in team and "Jo Ortiz" in team
    cancel = re.search(r'action="(/p/\d+/guardians/invitations/\d+/cancel)"', team).group(1)

    assert demo.login("lee@example.com").submit(cancel).status_code == 404  # not on Robin's team
    assert chen.submit(cancel).status_code == 302
    assert "The invitation is cancelled" in text_of(chen.get(f"/p/{robin}/team"))
    with demo.app.app_context():
        invitation = db.session.scalar(
            select(Invitation).where(Invitation.email == "jo@example.com")
        )
        assert invitation.cancelled_at is not None
    # The mailed link no longer works.
    demo.app.test_client_class = type(chen)
    jo = demo.app.test_client()
    assert jo.get(link.group(1), follow_redirects=True).status_code == 410
    # Cancelling twice: a message, not an error.
    assert chen.submit(cancel).status_code == 302
    assert "already accepted, cancelled or out of date" in text_of(chen.get(f"/p/{robin}/team"))


def test_two_staff_ending_the_same_guardian_end_it_once(app):
    """The second of two requests racing (both saw the grant running) changes nothing."""
    from portal.access import resolve
    from portal.auth.models import User
    from portal.caregivers import services
    from portal.mail.models import OutboxMail

    _clinic, minor, lead, _member, _parent, (guardian_grant, _other) = _minor_with_team(app)
    with app.app_context():
        access = resolve(db.session.get(User, lead.id), minor.id)
        services.end_guardian(access, guardian_grant, "safeguarding", "first")
        with pytest.raises(services.AlreadyEnded):
            services.end_guardian(access, guardian_grant, "court_order", "second")
        db.session.commit()
        grant = db.session.get(Grant, guardian_grant)
        assert (grant.end_cause, grant.end_note) == ("safeguarding", "first")
        assert len(db.session.scalars(select(OutboxMail)).all()) == 1
        ended = select(AuditEvent).where(AuditEvent.action == "end_guardian")
        assert len(db.session.scalars(ended).all()) == 1
