"""The clinicians' inbox: goals waiting for a team reply, oldest first, in fixed queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from portal import pagecache
from portal.audit import listed
from portal.audit.log import patient_access_log
from portal.audit.models import AuditEvent
from portal.auth.models import Discipline
from portal.careplan.models import CareTeamMember, Sensitivity
from portal.clinic import inbox as inbox_service
from portal.clinic.inbox import PAGE_SIZE
from portal.extensions import db
from portal.goals.models import Goal, GoalCategory, GoalStatus, ProgressEntry
from portal.patients import Patient
from tests.conftest import chain_statements, indexed_patients, text_of

RIVERA = "rivera@example.com"


def _panel_of_size(app, demo, size: int) -> None:
    """Give Dr. Rivera `size` extra patients, each with a goal waiting for a reply."""
    with app.app_context():
        extra = select(Patient.id).where(Patient.given_name.like("Inbox%"))
        db.session.execute(delete(Goal).where(Goal.patient_id.in_(extra)))
        db.session.execute(delete(CareTeamMember).where(CareTeamMember.patient_id.in_(extra)))
        db.session.execute(delete(Patient).where(Patient.given_name.like("Inbox%")))
        db.session.execute(
            insert(Patient),
            [{"given_name": f"Inbox{n}", "family_name": "Test"} for n in range(size)],
        )
        ids = db.session.scalars(extra).all()
        now = datetime.now(UTC)
        db.session.execute(
            insert(CareTeamMember),
            [
                {
                    "patient_id": pid,
                    "user_id": demo.users[RIVERA],
                    "role": "Primary care physician",
                    "discipline": Discipline.PRIMARY_CARE,
                }
                for pid in ids
            ],
        )
        db.session.execute(
            insert(Goal),
            [
                {
                    "patient_id": pid,
                    "title": f"Goal {n}",
                    "category": GoalCategory.OTHER,
                    "status": GoalStatus.ACTIVE,
                    "awaiting_reply_since": now - timedelta(minutes=n),
                }
                for n, pid in enumerate(ids)
            ],
        )
        db.session.commit()


def _goals_shown(response) -> int:
    return len(re.findall(r"Goal \d+ ", text_of(response)))


def test_inbox_query_count_does_not_grow_with_the_panel(demo, app, count_queries):
    rivera = demo.login(RIVERA)
    counts = {}
    for size in (5, 200):
        _panel_of_size(app, demo, size)
        rivera.get("/clinic/inbox")  # warm the session row
        with count_queries() as counter:
            response = rivera.get("/clinic/inbox")
        assert response.status_code == 200
        assert response.get_data(as_text=True).count('<th scope="row"') == min(size + 1, PAGE_SIZE)
        counts[size] = counter.count
    assert counts[5] == counts[200], counts
    # the session (with its user), what the page shows (its goals, their patients'
    # versions, the total: the markup is kept), the chain's lock and last row, the audit
    # event naming the page's patients (the access log's index gets them later:
    # portal/audit/listed.py)
    extra = chain_statements(app)
    assert counts[200] == 3 + extra, counter.statements
    kinds = [s.split()[0] for s in counter.statements]
    assert kinds == ["SELECT"] * (2 + extra) + ["INSERT"]


@pytest.mark.parametrize("size", [5, 200])
def test_panel_awaiting_flag_is_one_query(demo, app, count_queries, size):
    rivera = demo.login(RIVERA)
    _panel_of_size(app, demo, 5)
    rivera.get("/clinic/")
    with count_queries() as small:
        rivera.get("/clinic/")
    _panel_of_size(app, demo, size)
    with count_queries() as counter:
        response = rivera.get("/clinic/")
    # session, panel, waiting flags, what matters (portal/decisions), the chain,
    # the audit event
    assert counter.count == small.count == 5 + chain_statements(app)
    assert text_of(response).count("Awaiting reply") == size + 1  # and Alex's walk


def test_inbox_is_oldest_first_and_says_how_long(demo, app):
    _panel_of_size(app, demo, 3)
    text = text_of(demo.login(RIVERA).get("/clinic/inbox"))
    # Goal 2 has waited longest (2 minutes), then 1, then 0; Alex's walk waited 2 hours.
    order = [text.index(name) for name in ("Walk 30 minutes a day", "Goal 2", "Goal 1", "Goal 0")]
    assert order == sorted(order)
    assert "2 hours" in text


def test_inbox_shows_only_the_clinicians_own_panel(demo):
    chen = demo.login("chen@example.com")
    assert "Walk 30 minutes a day" not in text_of(chen.get("/clinic/inbox"))
    lee = demo.login("lee@example.com")
    assert "Walk 30 minutes a day" in text_of(lee.get("/clinic/inbox"))


def test_a_patient_message_puts_the_goal_back_in_the_inbox(demo, app):
    rivera = demo.login(RIVERA)
    with app.app_context():
        goal = db.session.scalar(select(Goal.id).where(Goal.measure == "minutes"))
    rivera.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Well done!"})
    assert "Walk 30 minutes a day" not in text_of(rivera.get("/clinic/inbox"))
    alex = demo.login("alex@example.com")
    alex.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Thanks!"})
    assert "Walk 30 minutes a day" in text_of(rivera.get("/clinic/inbox"))


def _listed(app, object_type: str) -> list[tuple[str, list[int]]]:
    """The list events of this kind: the patients each names, in the row and in the index.

    The index is written after the view, as the deliverer's loop does it.
    """
    with app.app_context():
        listed.index_all(db.session)
        events = db.session.execute(
            select(AuditEvent.id, AuditEvent.patient_ids, AuditEvent.patient_id)
            .where(AuditEvent.object_type == object_type)
            .order_by(AuditEvent.id)
        ).all()
        result = []
        for event_id, names, patient_id in events:
            assert patient_id is None
            result.append((names, indexed_patients(event_id)))
        return result


def test_an_inbox_view_is_one_audit_event_naming_every_patient_shown(demo, app):
    _panel_of_size(app, demo, 3)
    text = text_of(demo.login(RIVERA).get("/clinic/inbox"))
    with app.app_context():
        shown = sorted(
            db.session.scalars(
                select(Patient.id).where(
                    Patient.given_name.like("Inbox%") | (Patient.id == demo.alex)
                )
            )
        )
    assert all(f"Inbox{n} Test" in text for n in range(3))
    [(names, indexed)] = _listed(app, "goal_inbox")
    assert indexed == shown
    assert names == ",".join(map(str, shown))


def test_the_access_log_shows_the_inbox_view_to_each_patient(demo, app, count_queries):
    rivera = demo.login(RIVERA)
    rivera.get("/clinic/inbox")
    rivera.get(f"/p/{demo.alex}/plan")
    with app.app_context():
        assert listed.indexed_through(db.session.connection()) == 0  # nothing ran a batch yet
        log = patient_access_log(demo.alex)  # the reader runs it first
        db.session.commit()  # as the reader's request does
    assert log[0].summary() == "Dr. Riley Rivera (care team): read care plan"
    assert log[1].summary() == "Dr. Riley Rivera saw you in their inbox"
    assert log[1].listed and not log[0].listed
    assert log[0].at >= log[1].at
    with app.app_context():
        blakes = [e.summary() for e in patient_access_log(demo.blake)]
    assert "Dr. Riley Rivera saw you in their inbox" not in blakes  # nothing of Blake's waits
    # With nothing new to index, reading the log is two reads of the mark and one query.
    with app.app_context(), count_queries() as counter:
        assert patient_access_log(demo.alex)[1].listed
    assert counter.count == 3, counter.statements


def test_a_page_of_the_inbox_holds_fifty_oldest_first(demo, app):
    _panel_of_size(app, demo, 120)  # and Alex's walk: 121 waiting, 3 pages
    rivera = demo.login(RIVERA)
    first = rivera.get("/clinic/inbox").get_data(as_text=True)
    assert 'rel="next" href="/clinic/inbox?page=2"' in first
    assert 'rel="prev"' not in first
    assert "Page 1 of 3" in first
    # The oldest wait first: Alex's walk (2 hours), then Goal 119 down to Goal 71.
    text = text_of(rivera.get("/clinic/inbox?page=1"))
    assert "Walk 30 minutes a day" in text and "Goal 71 " in text and "Goal 70 " not in text
    third = rivera.get("/clinic/inbox?page=3")
    assert _goals_shown(third) == 21
    assert 'rel="prev" href="/clinic/inbox?page=2"' in third.get_data(as_text=True)
    assert 'rel="next"' not in third.get_data(as_text=True)
    # Each page's event names only the patients that page showed.
    assert [len(indexed) for _, indexed in _listed(app, "goal_inbox")] == [50, 50, 21]


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("?page=99", "Page 3 of 3"),  # past the end, e.g. after replies: the last page
        ("?page=" + "9" * 30, "Page 3 of 3"),
        ("?page=abc", "Page 1 of 3"),  # not a number: the first page
        ("?page=-2", "Page 1 of 3"),
        ("?page=", "Page 1 of 3"),
    ],
)
def test_odd_page_numbers_show_a_real_page(demo, app, query, shown):
    _panel_of_size(app, demo, 120)
    response = demo.login(RIVERA).get("/clinic/inbox" + query)
    assert response.status_code == 200
    assert shown in text_of(response)


def test_one_page_has_no_page_links(demo, app):
    _panel_of_size(app, demo, 3)
    html = demo.login(RIVERA).get("/clinic/inbox").get_data(as_text=True)
    assert "Inbox pages" not in html and "Page 1 of" not in html


def test_an_empty_inbox_past_its_end_is_still_a_page(demo):
    chen = demo.login("chen@example.com")
    response = chen.get("/clinic/inbox?page=4")
    assert response.status_code == 200
    assert "Nothing waiting for a reply" in text_of(response)


def test_a_kept_inbox_row_changes_as_soon_as_anything_it_shows_changes(demo, app):
    """Rows are rendered once per worker (portal/clinic/views.py) with the row itself as the
    key: whatever writes the data, by whatever path, the next view shows it."""
    rivera = demo.login(RIVERA)
    first = text_of(rivera.get("/clinic/inbox"))
    assert "Alex" in first and "Walk 30 minutes a day" in first
    assert text_of(rivera.get("/clinic/inbox")) == first  # the kept rows read the same
    with app.app_context():
        goal = db.session.scalar(select(Goal.id).where(Goal.measure == "minutes"))
        # Raw SQL, as an admin script would: the patient's name and the goal's sensitivity.
        db.session.execute(
            text("UPDATE patients SET given_name = 'Alexandra' WHERE id = :p"), {"p": demo.alex}
        )
        db.session.execute(
            text("UPDATE goals SET title = 'Walk 40 minutes a day' WHERE id = :g"), {"g": goal}
        )
        db.session.commit()
    second = text_of(rivera.get("/clinic/inbox"))
    assert "Alexandra" in second and "Walk 40 minutes a day" in second
    assert "Walk 30 minutes a day" not in second
    with app.app_context():  # a Core update, as the services write
        sensitive = update(Goal).values(sensitivity=Sensitivity.BEHAVIORAL_HEALTH)
        db.session.execute(sensitive.where(Goal.id == goal))
        db.session.commit()
    assert "Sensitive" in text_of(rivera.get("/clinic/inbox"))
    # The patient writes: the preview is the new message.
    alex = demo.login("alex@example.com")
    alex.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Did 40 today, knee fine"})
    assert "“Did 40 today, knee fine”" in text_of(rivera.get("/clinic/inbox"))


def test_a_kept_inbox_row_is_written_in_each_readers_locale(demo, app):
    rivera = demo.login(RIVERA)
    with app.app_context():
        day = db.session.scalar(
            select(func.max(ProgressEntry.entry_date))
            .join(Goal, Goal.id == ProgressEntry.goal_id)
            .where(Goal.patient_id == demo.alex, Goal.awaiting_reply_since.is_not(None))
        )
    assert day is not None
    us = text_of(rivera.get("/clinic/inbox", headers={"Accept-Language": "en-US"}))
    gb = text_of(rivera.get("/clinic/inbox", headers={"Accept-Language": "en-GB"}))
    assert f"Logged {day:%b} {day.day}, {day.year}:" in us
    assert f"Logged {day.day} {day:%b} {day.year}:" in gb


def _kept_inboxes(app) -> list[tuple]:
    """The keys of the inbox pages kept in this (test) worker's memory."""
    return [name for name in set(pagecache.cache_of(app).keys()) if name[0] == "clinic/inbox.html"]


def test_a_kept_inbox_page_reads_what_it_shows_and_renders_only_when_that_changed(
    demo, app, count_queries
):
    """Each view reads the page's goals and their patients' data versions; the page in full
    (messages, entries, preferences) is read and rendered only when they changed."""
    _panel_of_size(app, demo, 60)
    rivera = demo.login(RIVERA)
    rivera.get("/")  # the session row is fresh
    with count_queries() as first:
        shown = text_of(rivera.get("/clinic/inbox"))
    with count_queries() as again:
        kept = text_of(rivera.get("/clinic/inbox"))
    assert first.count == again.count + 1, (first.statements, again.statements)
    assert any("goal_messages" in s for s in first.statements)
    assert not any("goal_messages" in s for s in again.statements)
    names = re.findall(r"Inbox\d+ Test", shown)
    assert len(names) == PAGE_SIZE - 1 and re.findall(r"Inbox\d+ Test", kept) == names
    # A new entry on one of the page's goals renews that patient's version: rendered afresh.
    with app.app_context():
        goal = db.session.scalar(select(Goal).where(Goal.title == "Goal 59"))
        db.session.add(
            ProgressEntry(
                goal_id=goal.id,
                patient_id=goal.patient_id,
                entry_date=datetime.now(UTC).date(),
                done=True,
                note="Did it after lunch",
                idempotency_key="kept-inbox-1",
                fingerprint="x",
                created_by_id=demo.users[RIVERA],
            )
        )
        db.session.commit()
    with count_queries() as changed:
        assert "Did it after lunch" in text_of(rivera.get("/clinic/inbox"))
    assert changed.count == first.count


def test_a_kept_inbox_page_says_how_long_each_has_waited_on_every_view(
    demo, app, monkeypatch, count_queries
):
    _panel_of_size(app, demo, 3)  # Goal 0 to Goal 2 waited 0 to 2 minutes; Alex's walk 2 hours
    rivera = demo.login(RIVERA)
    first = rivera.get("/clinic/inbox").get_data(as_text=True)
    assert "2 hours</time>" in first
    later = datetime.now(UTC) + timedelta(days=3)
    monkeypatch.setattr(pagecache, "utcnow", lambda: later)  # the view's clock, not the data's
    with count_queries() as counter:
        again = rivera.get("/clinic/inbox").get_data(as_text=True)
    assert not any("goal_messages" in s for s in counter.statements)  # the kept markup
    waited = re.findall(r'<time datetime="[^"]+">([^<]+)</time>', again)
    assert waited == ["3 days"] * 4, waited  # Alex's walk: 3 days and 2 hours
    assert "2 hours</time>" not in again


def test_a_write_between_the_two_reads_keeps_the_page_under_what_it_read(
    demo, app, monkeypatch, count_queries
):
    """`shown` read the old versions; a write commits before the page is read in full.
    The page shows the write, and is kept under the versions it was read at."""
    rivera = demo.login(RIVERA)
    read_page = inbox_service.read_page

    def written_meanwhile(clinician, number):
        with db.engine.connect() as other:  # another worker's request, committed in between
            other.execute(
                text("UPDATE patients SET given_name = 'Alexandra' WHERE id = :p"), {"p": demo.alex}
            )
            other.commit()
        return read_page(clinician, number)

    pagecache.cache_of(app).clear()
    monkeypatch.setattr(inbox_service, "read_page", written_meanwhile)
    assert "Alexandra" in text_of(rivera.get("/clinic/inbox"))
    monkeypatch.undo()
    with count_queries() as counter:
        assert "Alexandra" in text_of(rivera.get("/clinic/inbox"))
    assert not any("goal_messages" in s for s in counter.statements)  # kept, under the new
    kept = _kept_inboxes(app)
    assert len(kept) == 1, kept  # nothing under the versions read before the write


def test_a_kept_inbox_page_is_one_clinicians_own(demo, app):
    """Lee and Dr. Rivera share Alex's team; each reads their own kept page (and their own
    "preferences updated" marks, tests/test_preferences.py)."""
    pagecache.cache_of(app).clear()
    rivera, lee = demo.login(RIVERA), demo.login("lee@example.com")
    assert "Walk 30 minutes a day" in text_of(rivera.get("/clinic/inbox"))
    assert "Walk 30 minutes a day" in text_of(lee.get("/clinic/inbox"))
    kept = _kept_inboxes(app)
    assert len(kept) == 2, kept
    assert {k[3][0] for k in kept} == {demo.users[RIVERA], demo.users["lee@example.com"]}
