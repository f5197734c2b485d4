"""Goals as people meet them: logging from home, the goal page, proposals, threads."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from portal import pagecache
from portal.audit.models import AuditEvent
from portal.auth.models import User
from portal.extensions import db
from portal.goals.models import (
    Goal,
    GoalMessage,
    GoalStatus,
    ProgressEntry,
    ProgressEntryRevision,
)
from portal.notifications.models import Notification
from tests.conftest import chain_statements, text_of

ALEX = "alex@example.com"
RIVERA = "rivera@example.com"


def walk_id(demo) -> int:
    with demo.app.app_context():
        return db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.measure == "minutes")
        )


def proposal_id(demo) -> int:
    with demo.app.app_context():
        return db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.status == GoalStatus.PROPOSED)
        )


def count(demo, model, *where) -> int:
    with demo.app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def alex_today(demo) -> date:
    with demo.app.app_context():
        zone = db.session.scalar(select(User.timezone).where(User.email == ALEX))
    return datetime.now(ZoneInfo(zone)).date()


def entry_form(html: str, goal_id: int) -> dict[str, str]:
    """The fields of the one-tap form for `goal_id`, as a browser would send them."""
    match = re.search(
        rf'<form[^>]*data-entry-form data-goal-id="{goal_id}"[^>]*>(.*?)</form>', html, re.S
    )
    assert match, "no entry form for the goal"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', match.group(1)))


def test_logging_a_walk_from_home_takes_two_taps_and_a_number(demo):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    home = alex.get(f"/p/{demo.alex}/")
    html = home.get_data(as_text=True)
    form_html = re.search(rf'<form[^>]*data-goal-id="{goal}"[^>]*>.*?</form>', html, re.S).group(0)
    # The contract the web app's JS relies on.
    assert f'action="/p/{demo.alex}/goals/{goal}/entries"' in form_html
    assert f'data-patient-id="{demo.alex}"' in form_html
    assert 'name="value"' in form_html and 'inputmode="numeric"' in form_html
    assert form_html.count('type="submit"') == 1  # tap the box, type, tap Save
    fields = entry_form(html, goal)
    uuid.UUID(fields["idempotency_key"])
    assert fields["entry_date"] == alex_today(demo).isoformat()
    before = count(demo, ProgressEntry, ProgressEntry.goal_id == goal)
    response = alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", {**fields, "value": "32"})
    assert response.status_code == 303
    # Back to the home screen, at the form: the confirmation is beside it, focused.
    assert response.headers["Location"] == f"/p/{demo.alex}/#saved-{goal}"
    assert count(demo, ProgressEntry, ProgressEntry.goal_id == goal) == before + 1
    home = alex.get(f"/p/{demo.alex}/").get_data(as_text=True)
    note = re.search(rf'<div [^>]*id="saved-{goal}"[^>]*>(.*?)</div>', home, re.S)
    assert 'role="status"' in note.group(0) and "autofocus" in note.group(0)
    # 62 minutes: today's total (30 logged earlier today, and these 32).
    assert re.search(r"Saved: 62 minutes today\. On target \d of \d days", note.group(1))
    assert "Saved" not in home.split("<h1")[0]  # not also at the top
    again = alex.get(f"/p/{demo.alex}/").get_data(as_text=True)
    assert "Saved:" not in again  # shown once
    # The chart on the goal page shows today's 32 (plus the 30 logged earlier today).
    page = alex.get(f"/p/{demo.alex}/goals/{goal}").get_data(as_text=True)
    assert re.search(r"<title>\w+day, \w+ \d+: 62 minutes</title>", page)  # en-US, the default


def test_done_goals_log_with_one_tap(demo, app):
    alex = demo.login(ALEX)
    created = alex.submit(
        f"/p/{demo.alex}/goals/new",
        {"title": "Take my pills", "category": "medication", "measure": "done"},
    )
    assert created.status_code == 303
    goal = int(created.headers["Location"].rsplit("/", 1)[1])
    html = alex.get(f"/p/{demo.alex}/").get_data(as_text=True)
    fields = entry_form(html, goal)
    assert fields["done"] == "1"
    assert alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", fields).status_code == 303
    with app.app_context():
        entry = db.session.scalar(select(ProgressEntry).where(ProgressEntry.goal_id == goal))
        assert entry.done is True and entry.value is None


def test_a_bad_value_is_explained_next_to_the_field_and_nothing_is_stored(demo):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    before = count(demo, ProgressEntry)
    response = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/entries",
        {"value": "lots", "feeling": "7", "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert '<a href="#entry-value">Enter a number of minutes, like 20</a>' in html
    assert 'id="entry-value-error"' in html and 'aria-invalid="true"' in html
    assert "Choose how you feel from 1 to 5" in html
    assert 'value="lots"' in html  # what they typed is kept
    assert count(demo, ProgressEntry) == before


def test_the_same_form_sent_twice_is_stored_once(demo):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    form = {"value": "20", "idempotency_key": str(uuid.uuid4()), "note": "Twice"}
    first = alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", form)
    again = alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", form)
    assert first.status_code == again.status_code == 303
    assert count(demo, ProgressEntry, ProgressEntry.note == "Twice") == 1
    assert "That was already saved" in text_of(alex.get(f"/p/{demo.alex}/goals/{goal}"))
    changed = alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", {**form, "value": "50"})
    assert changed.status_code == 303
    assert "already saved with different details" in text_of(alex.get(changed.headers["Location"]))
    assert count(demo, ProgressEntry, ProgressEntry.note == "Twice") == 1


def test_next_must_stay_on_the_site(demo):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = alex.submit(
            f"/p/{demo.alex}/goals/{goal}/entries",
            {"value": "5", "idempotency_key": str(uuid.uuid4()), "next": target},
        )
        assert response.headers["Location"] == f"/p/{demo.alex}/goals/{goal}#saved-{goal}"


def newest_entry(demo, goal: int) -> int:
    with demo.app.app_context():
        return db.session.scalar(
            select(ProgressEntry.id)
            .where(ProgressEntry.goal_id == goal)
            .order_by(ProgressEntry.created_at.desc())
        )


def test_an_entry_can_be_changed_and_deleted_for_24_hours_with_a_trail(demo, app):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    entry = newest_entry(demo, goal)
    base = f"/p/{demo.alex}/goals/{goal}/entries/{entry}"
    assert alex.get(base + "/edit").status_code == 200
    bad = alex.submit(base + "/edit", {"value": "9999"})
    assert bad.status_code == 422 and "between 0 and 1440" in text_of(bad)
    assert alex.submit(base + "/edit", {"value": "40", "note": "Longer"}).status_code == 303
    assert alex.submit(base + "/delete").status_code == 303
    with app.app_context():
        row = db.session.get(ProgressEntry, entry)
        assert row.deleted_at is not None and row.value == 40  # soft-deleted, kept
        trail = db.session.scalars(
            select(ProgressEntryRevision)
            .where(ProgressEntryRevision.entry_id == entry)
            .order_by(ProgressEntryRevision.id)
        ).all()
        assert [(r.action, r.value) for r in trail] == [("changed", 30), ("deleted", 40)]
        actions = db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "progress_entry", AuditEvent.object_id == entry
            )
        ).all()
        assert {"update", "delete"} <= set(actions)
    page = alex.get(f"/p/{demo.alex}/goals/{goal}")
    assert "Park and back before lunch" not in text_of(page)
    assert alex.submit(base + "/delete").status_code == 404  # gone for good from the page


def test_after_24_hours_an_entry_is_fixed(demo, app):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    entry = newest_entry(demo, goal)
    with app.app_context():
        db.session.execute(
            update(ProgressEntry)
            .where(ProgressEntry.id == entry)
            .values(created_at=datetime.now(ZoneInfo("UTC")) - timedelta(hours=25))
        )
        db.session.commit()
    base = f"/p/{demo.alex}/goals/{goal}/entries/{entry}"
    response = alex.submit(base + "/edit", {"value": "1"})
    assert response.status_code == 303
    assert "for 24 hours" in text_of(alex.get(response.headers["Location"]))
    assert alex.submit(base + "/delete").status_code == 303
    with app.app_context():
        row = db.session.get(ProgressEntry, entry)
        assert row.deleted_at is None and row.value == 30


def test_the_team_cannot_change_the_patients_entries(demo):
    rivera = demo.login(RIVERA)
    goal = walk_id(demo)
    entry = newest_entry(demo, goal)
    base = f"/p/{demo.alex}/goals/{goal}/entries/{entry}"
    assert rivera.submit(base + "/edit", {"value": "1"}).status_code == 403
    assert rivera.submit(base + "/delete").status_code == 403


def test_the_goal_page_shows_chart_week_streak_entries_and_thread(demo):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    response = alex.get(f"/p/{demo.alex}/goals/{goal}")
    html = response.get_data(as_text=True)
    text = text_of(response)
    assert (
        '<svg class="chart"' in html and "style=" not in html.split("<svg", 1)[1].split("</svg>")[0]
    )
    assert "In the last 14 days: logged on" in text
    assert "This week" in text and "in a row" in text
    assert "Suggested by you · agreed by Dr. Riley Rivera" in text
    assert "Park and back before lunch." in text
    assert 'href="https://example.org/walking-group" rel="nofollow noopener noreferrer"' in html
    assert "Primary care physician" in text and "New" in text


def test_proposal_flow_accept_in_own_words(demo, app):
    alex = demo.login(ALEX)
    goal = proposal_id(demo)
    assert "Suggested by Jordan Lee" in text_of(alex.get(f"/p/{demo.alex}/"))
    page = alex.get(f"/p/{demo.alex}/goals/{goal}/answer")
    assert "A goal suggested by Jordan Lee" in text_of(page)
    answer = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/answer",
        {
            "title": "Call my sister on Sundays",
            "category": "social",
            "measure": "done",
            "frequency": "weekly",
            "target_value": "1",
        },
    )
    assert answer.status_code == 303
    with app.app_context():
        row = db.session.get(Goal, goal)
        assert row.status is GoalStatus.ACTIVE and row.title == "Call my sister on Sundays"
        assert row.proposed_by_id == demo.users["lee@example.com"]
        assert row.agreed_by_id == demo.users[ALEX]
    text = text_of(alex.get(f"/p/{demo.alex}/goals/{goal}"))
    assert "Suggested by Jordan Lee · agreed by you" in text
    again = alex.submit(f"/p/{demo.alex}/goals/{goal}/decline")
    assert again.status_code == 303
    with app.app_context():
        assert db.session.get(Goal, goal).status is GoalStatus.ACTIVE


def test_proposal_can_be_declined_with_a_reason(demo, app):
    alex = demo.login(ALEX)
    goal = proposal_id(demo)
    response = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/decline", {"reason": "I would rather text them."}
    )
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(Goal, goal)
        assert row.status is GoalStatus.CANCELLED and row.note == "I would rather text them."
    rivera = demo.login(RIVERA)
    assert "This goal was stopped" in text_of(rivera.get(f"/p/{demo.alex}/goals/{goal}"))


def test_clinician_proposes_and_patient_sees_it(demo, app):
    rivera = demo.login(RIVERA)
    response = rivera.submit(
        f"/p/{demo.alex}/goals/new",
        {
            "title": "Check blood pressure each morning",
            "category": "medication",
            "measure": "systolic_bp",
            "target_value": "130",
            "frequency": "daily",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        goal = db.session.scalar(select(Goal).where(Goal.title.like("Check blood%")))
        assert goal.status is GoalStatus.PROPOSED and goal.agreed_by_id is None
    assert "Check blood pressure each morning" in text_of(demo.login(ALEX).get(f"/p/{demo.alex}/"))


def test_a_new_goal_form_explains_every_problem(demo):
    alex = demo.login(ALEX)
    response = alex.submit(
        f"/p/{demo.alex}/goals/new",
        {"title": "", "measure": "minutes", "target_value": "99999", "due_on": "yesterday"},
    )
    assert response.status_code == 422
    text = text_of(response)
    assert "Write your goal in a few words" in text
    assert "Enter a target between 0 and 1440 minutes" in text
    assert "Enter the date like" in text


def test_patient_shares_own_goal_and_it_waits_for_the_team(demo, app):
    alex = demo.login(ALEX)
    created = alex.submit(
        f"/p/{demo.alex}/goals/new",
        {"title": "Drink water", "category": "nutrition", "measure": "count"},
    )
    goal = int(created.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        row = db.session.get(Goal, goal)
        assert row.shared_with_team is False and row.awaiting_reply_since is None
        assert row.proposed_by_id == demo.users[ALEX] and row.status is GoalStatus.ACTIVE
    assert alex.submit(f"/p/{demo.alex}/goals/{goal}/share").status_code == 303
    with app.app_context():
        assert db.session.get(Goal, goal).awaiting_reply_since is not None
    rivera = demo.login(RIVERA)
    assert "Drink water" in text_of(rivera.get("/clinic/inbox"))


def test_team_review_sets_status_and_achievement_only_where_nothing_is_measured(demo, app):
    rivera = demo.login(RIVERA)
    goal = walk_id(demo)
    bad = rivera.submit(f"/p/{demo.alex}/goals/{goal}/review", {"status": "proposed"})
    assert bad.status_code == 422 and "Choose active, on hold or completed" in text_of(bad)
    ok = rivera.submit(
        f"/p/{demo.alex}/goals/{goal}/review",
        {"status": "on_hold", "achievement": "achieved", "note": "Knee rest"},
    )
    assert ok.status_code == 303
    with app.app_context():
        row = db.session.get(Goal, goal)
        assert row.status is GoalStatus.ON_HOLD and row.note == "Knee rest"
        assert row.achievement.value != "achieved"  # measured: follows the entries
    alex = demo.login(ALEX)
    paused = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/entries", {"value": "5", "idempotency_key": "paused-goal-1"}
    )
    assert paused.status_code == 303
    assert "not active" in text_of(alex.get(paused.headers["Location"]))


def test_messages_are_escaped_notified_and_clear_the_inbox(demo, app):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    sent = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/messages", {"body": "<script>alert(1)</script> hi"}
    )
    assert sent.status_code == 303
    page = alex.get(f"/p/{demo.alex}/goals/{goal}").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; hi" in page
    with app.app_context():
        team = db.session.scalars(
            select(Notification.user_id).where(Notification.kind == "patient_activity")
        ).all()
        assert demo.users[RIVERA] in team and demo.users[ALEX] not in team
    rivera = demo.login(RIVERA)
    assert "Walk 30 minutes a day" in text_of(rivera.get("/clinic/inbox"))
    reply = rivera.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Keep going!"})
    assert reply.status_code == 303
    assert "Walk 30 minutes a day" not in text_of(rivera.get("/clinic/inbox"))
    lee = demo.login("lee@example.com")
    assert "Walk 30 minutes a day" not in text_of(lee.get("/clinic/inbox"))  # the whole team
    with app.app_context():
        notice = db.session.scalar(select(Notification).where(Notification.kind == "goal_reply"))
        assert notice.user_id == demo.users[ALEX]
        assert notice.url == f"/p/{demo.alex}/goals/{goal}#latest"  # lands on the reply
        message = db.session.scalar(select(GoalMessage).order_by(GoalMessage.id.desc()))
        assert (message.author_role, message.from_team) == ("Primary care physician", True)
    home = text_of(alex.get(f"/p/{demo.alex}/"))
    assert "Dr. Riley Rivera replied about “Walk 30 minutes a day”" in home
    assert "Keep going!" in home
    thread = text_of(alex.get(f"/p/{demo.alex}/goals/{goal}"))
    assert "Keep going!" in thread
    # Once read, the reply is no longer new on the home screen.
    assert "Keep going!" not in text_of(alex.get(f"/p/{demo.alex}/"))


def test_an_empty_message_is_refused(demo):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    before = count(demo, GoalMessage)
    response = alex.submit(f"/p/{demo.alex}/goals/{goal}/messages", {"body": "   "})
    assert response.status_code == 422 and "Write a message" in text_of(response)
    assert count(demo, GoalMessage) == before


def test_patient_activity_is_one_digest_per_clinician_per_hour(demo, app):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    for n in range(3):
        alex.submit(
            f"/p/{demo.alex}/goals/{goal}/entries",
            {"value": str(n + 1), "idempotency_key": f"digest-test-{n}"},
        )
    with app.app_context():
        per_user = db.session.execute(
            select(Notification.user_id, func.count())
            .where(Notification.kind == "patient_activity")
            .group_by(Notification.user_id)
        ).all()
    assert per_user and all(n == 1 for _, n in per_user)
    assert demo.users[RIVERA] in {u for u, _ in per_user}


def test_reading_goals_is_audited(demo, app):
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    alex.get(f"/p/{demo.alex}/goals/{goal}")
    alex.get(f"/p/{demo.alex}/goals")
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.action, AuditEvent.object_type, AuditEvent.object_id).where(
                AuditEvent.actor_id == demo.users[ALEX]
            )
        ).all()
    assert ("read", "goal", goal) in rows
    assert ("read", "goals", demo.alex) in rows


def test_sensitive_goals_are_marked(demo):
    alex = demo.login(ALEX)
    text = text_of(alex.get(f"/p/{demo.alex}/goals"))
    assert "Sensitive: behavioral health" in text


def test_plan_links_goal_titles_to_the_goal_page(demo):
    alex = demo.login(ALEX)
    html = alex.get(f"/p/{demo.alex}/plan").get_data(as_text=True)
    assert f'<a href="/p/{demo.alex}/goals/{walk_id(demo)}">Walk 30 minutes a day</a>' in html


def _thread_of_size(app, demo, goal: int, size: int) -> None:
    with app.app_context():
        db.session.execute(ProgressEntry.__table__.delete().where(ProgressEntry.goal_id == goal))
        db.session.execute(GoalMessage.__table__.delete().where(GoalMessage.goal_id == goal))
        today = alex_today(demo)
        for n in range(size):
            db.session.add(
                ProgressEntry(
                    goal_id=goal,
                    patient_id=demo.alex,
                    entry_date=today - timedelta(days=n % 30),
                    value=n % 40,
                    note=f"entry {n}",
                    idempotency_key=f"size-{size}-{n}",
                    fingerprint="x",
                    created_by_id=demo.users[ALEX],
                )
            )
            db.session.add(
                GoalMessage(
                    goal_id=goal,
                    patient_id=demo.alex,
                    author_id=demo.users[RIVERA],
                    author_name="Dr. Riley Rivera",
                    author_role="Primary care physician",
                    from_team=True,
                    body=f"message {n}",
                )
            )
        db.session.commit()


@pytest.mark.parametrize("cached", [False, True], ids=["rendered", "cached"])
@pytest.mark.parametrize("who", [ALEX, RIVERA])
def test_goal_page_query_count_does_not_grow(demo, app, count_queries, who, cached):
    client = demo.login(who)
    goal = walk_id(demo)
    url = f"/p/{demo.alex}/goals/{goal}"
    counts = {}
    for size in (2, 150):
        _thread_of_size(app, demo, goal, size)
        client.get(url)  # warm: marks the thread read, refreshes the session row
        client.get(url)  # and keeps the page as it looks once read
        if not cached:
            pagecache.cache_of(app).clear()
        with count_queries() as counter:
            response = client.get(url)
        assert response.status_code == 200
        assert f"message {size - 1}" in response.get_data(as_text=True)
        counts[size] = counter.count
    assert counts[2] == counts[150], counts
    assert counts[150] <= (4 if cached else 14) + chain_statements(app), counts


def test_a_kept_goal_page_reads_only_its_state(demo, app, count_queries):
    """Session, access, the page's state (versions, newest message id, read marker), audit."""
    alex = demo.login(ALEX)
    url = f"/p/{demo.alex}/goals/{walk_id(demo)}"
    alex.get(url)  # marks the thread read
    alex.get(url)  # kept as it looks once read
    with count_queries() as counter:
        assert alex.get(url).status_code == 200
    tables = " ".join(counter.statements).lower()
    for skipped in ("progress_entries", "goal_messages.body", "from users"):
        assert skipped not in tables, counter.statements
    assert "max(goal_messages.id)" in tables  # the newest message id, an index lookup
    assert counter.count == 4 + chain_statements(app), counter.statements
    assert counter.statements[-1].lstrip().upper().startswith("INSERT INTO AUDIT")


WRITES = ("INSERT", "UPDATE", "DELETE")


def _is_write(statement: str) -> bool:
    return statement.lstrip().upper().startswith(WRITES)


@pytest.mark.parametrize("how", ["form", "api"])
def test_posting_an_entry_runs_a_fixed_few_statements_reads_first(demo, app, count_queries, how):
    """Session, access, goal with the key, two weeks' daily sums, the team without this hour's
    digest: then the entry and the audit row. The same for 2 or 150 entries, no savepoint."""
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    seen: dict[int, list[list[str]]] = {}
    for size in (2, 150):
        _thread_of_size(app, demo, goal, size)
        with app.app_context():  # the same outbox work each time: no digest yet this hour
            db.session.execute(Notification.__table__.delete())
            db.session.commit()
        alex.get(f"/p/{demo.alex}/")
        seen[size] = []
        for n in range(2):  # the hour's first entry queues the digest; the next finds it
            key = f"query-count-{how}-{size}-{n}"
            with count_queries() as counter:
                if how == "form":
                    url = f"/p/{demo.alex}/goals/{goal}/entries"
                    response = alex.submit(url, {"value": "12", "idempotency_key": key})
                    assert response.status_code == 303
                else:
                    url = f"/api/v1/patients/{demo.alex}/goals/{goal}/entries"
                    response = alex.api("POST", url, {"value": 12}, {"Idempotency-Key": key})
                    assert response.status_code == 201
            seen[size].append(counter.statements)
    assert [len(s) for s in seen[2]] == [len(s) for s in seen[150]], seen
    first, steady = seen[150]
    assert not any("SAVEPOINT" in s.upper() for s in first + steady)
    # Steady state: three reads (the session, the access, and the goal with the key's
    # entry, whether the team lacks this hour's digest and the kept days), then the
    # entry, then the chain's read(s) and the audit row; nothing else.
    extra = chain_statements(app)
    assert len(steady) == 5 + extra, steady
    assert [_is_write(s) for s in steady] == [False] * 3 + [True] + [False] * extra + [True]
    assert "INSERT INTO progress_entries" in steady[3]
    assert "INSERT INTO audit_events" in steady[-1]
    # The hour's first entry also has the outbox check the digest's key again, read the
    # team's preferences and queue the digest (reading back the rows it inserted); and
    # the goal starts waiting for a reply.
    assert len(first) == 12 + extra, first
    writes = [False] * 7 + [True, False, True, True] + [False] * extra + [True]
    assert [_is_write(s) for s in first] == writes, first
    assert "UPDATE goals" in first[10]


def test_a_concurrent_duplicate_returns_the_stored_entry(demo, app):
    """Another request stores the same entry between this one's look-up and its insert:
    the unique key decides, nothing fails, and this one answers with the stored entry."""
    from sqlalchemy import event

    from portal.access import resolve
    from portal.goals import entries

    goal = walk_id(demo)
    body = {"value": "21", "note": "Race"}
    with app.app_context():
        engine = db.engine
    raced = []

    def the_other_request_first(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO progress_entries") and not raced:
            raced.append(statement)
            with engine.connect() as other:  # its own connection and transaction
                other.exec_driver_sql(statement, parameters)
                other.commit()

    with app.test_request_context():
        alex = resolve(db.session.get(User, demo.users[ALEX]), demo.alex)
        entries.add_entry(alex, goal, {"value": "5"}, "earlier-key-01")  # queues this hour's digest
        db.session.commit()
        event.listen(engine, "before_cursor_execute", the_other_request_first)
        try:
            again, created = entries.add_entry(alex, goal, body, "race-key-0001")
        finally:
            event.remove(engine, "before_cursor_execute", the_other_request_first)
        assert raced and not created
        assert again.id is not None and again.note == "Race"
        db.session.commit()  # the rest of the request still commits
        with pytest.raises(entries.IdempotencyConflict):  # other details: refused
            entries.add_entry(alex, goal, {**body, "value": "22"}, "race-key-0001")
        db.session.rollback()
    assert count(demo, ProgressEntry, ProgressEntry.note == "Race") == 1


def test_today_is_the_patients_today(demo, app):
    with app.app_context():
        user = db.session.get(User, demo.users[ALEX])
        user.timezone = "Pacific/Kiritimati"  # UTC+14: often a day ahead of UTC
        db.session.commit()
    alex = demo.login(ALEX)
    goal = walk_id(demo)
    response = alex.api(
        "POST",
        f"/api/v1/patients/{demo.alex}/goals/{goal}/entries",
        json={"value": 10},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    expected = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    assert response.get_json()["entry_date"] == expected


def test_reading_in_two_tabs_at_once_is_not_an_error(demo, app):
    """Both tabs find no read marker; the second insert meets the first and updates it."""
    from portal.goals import reading
    from portal.goals.models import GoalRead

    goal = walk_id(demo)
    with app.app_context():
        reading.mark_thread_read(demo.users[ALEX], goal, 5, None)
        db.session.commit()
        reading.mark_thread_read(demo.users[ALEX], goal, 9, None)
        db.session.commit()
        marker = db.session.get(GoalRead, (demo.users[ALEX], goal))
        assert marker.last_read_message_id == 9


def test_share_flag_must_clearly_say_yes(demo, app):
    alex = demo.login(ALEX)
    created = alex.api(
        "POST",
        f"/api/v1/patients/{demo.alex}/goals",
        json={"title": "Read a chapter", "share": "false"},
    )
    assert created.status_code == 201 and created.get_json()["shared_with_team"] is False
