"""The goal page is kept per version of the patient's data, day and viewer, never stale.

Every test first views the page until it is served whole from the cache, then
changes something as a user would and checks the next view. Whether a view was
served kept is observed from the outside (`_view`): a kept view adds no page to
the cache and reads nothing of the goal's entries; a rendered one does both.
Freshness is named by the patient's `data_version`, which database triggers
renew on any write (portal/versions.py); the clock is in no key, so a view
after the clock moves is still served kept and shows the new time all the same.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import event, func, select, update

from portal import pagecache
from portal.access import Scope
from portal.audit.models import AuditEvent
from portal.careplan.models import CareTeamMember, Sensitivity
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal, GoalMessage, GoalRead, ProgressEntry
from portal.patients import Patient
from tests.conftest import chain_statements, text_of

ALEX = "alex@example.com"
RIVERA = "rivera@example.com"
LEE = "lee@example.com"
BLAKE = "blake@example.com"
CHEN = "chen@example.com"

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# -- helpers -------------------------------------------------------------------


def _goal(demo, measure: str) -> int:
    """One of Alex's goals by its measure: "minutes" (the walk, with entries and a thread),
    "servings" (vegetables: no entries, no messages), "mood" (marked sensitive)."""
    with demo.app.app_context():
        return db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.measure == measure)
        )


def _page(demo, goal: int) -> str:
    return f"/p/{demo.alex}/goals/{goal}"


def _version(demo) -> int:
    """Alex's `data_version`: what names Alex's kept pages (renewed by the database)."""
    with demo.app.app_context():
        return db.session.scalar(select(Patient.data_version).where(Patient.id == demo.alex))


@contextmanager
def _statements(app) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


class View(NamedTuple):
    html: str
    rendered: bool  # the goal's entries were loaded and the page rendered
    added: bool  # a page was added to the cache
    statements: list[str]

    @property
    def kept(self) -> bool:
        """Served from the cache: nothing loaded, nothing rendered, nothing added."""
        return not self.rendered and not self.added


def _view(app, client, url: str) -> View:
    """A view of the goal page, and whether the cache served it (seen from outside)."""
    cache = pagecache.cache_of(app)
    before = set(cache.keys())
    with _statements(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    added = bool(set(cache.keys()) - before)
    rendered = any("progress_entries" in s for s in statements)
    assert rendered or not added, "a page was kept without being rendered"
    return View(response.get_data(as_text=True), rendered, added, statements)


def _warm(app, client, url: str) -> str:
    """View the page until it is served whole from the cache (the first views mark it read)."""
    for _ in range(3):
        view = _view(app, client, url)
        if view.kept:
            return view.html
    raise AssertionError(f"{url} was never served from the cache")


def _text(html: str) -> str:
    """The visible text of a page, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _entries(html: str) -> str:
    return html.split('id="entries-title"', 1)[1].split("</section>", 1)[0]


def _entry(html: str, note: str) -> str:
    """The listed entry whose note is `note` (its <li>)."""
    items = [i for i in _entries(html).split('<li class="entry">')[1:] if note in i]
    assert len(items) == 1, f"{note!r} is listed {len(items)} times"
    return items[0].split("</li>", 1)[0]


def _message(html: str, body: str) -> str:
    """The message in the thread whose body is `body` (its <li>, with its class)."""
    items = [i for i in html.split('<li class="message')[1:] if body in i]
    assert len(items) == 1, f"{body!r} is in the thread {len(items)} times"
    return '<li class="message' + items[0].split("</li>", 1)[0]


def _entry_form(html: str, goal: int) -> tuple[str, dict[str, str]]:
    """The goal page's entry form: its action and hidden fields, as a browser would send them."""
    match = re.search(
        rf'<form[^>]*action="([^"]+)" data-entry-form data-goal-id="{goal}"[^>]*>(.*?)</form>',
        html,
        re.S,
    )
    assert match, "no entry form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', match.group(2)))
    return match.group(1), fields


def _done(response, flash: str) -> None:
    """A form was sent and answered 303 to the goal page, followed here: its flash is shown
    (so the sender's next view is an ordinary one, not one rendered for a flash)."""
    assert [r.status_code for r in response.history] == [303], text_of(response)
    assert response.status_code == 200 and flash in text_of(response)


def _log(client, demo, goal: int, note: str, **fields: str) -> None:
    """Log an entry with the goal page's form (a minutes or servings value by default)."""
    response = client.submit(
        f"/p/{demo.alex}/goals/{goal}/entries",
        {"value": "20", **fields, "note": note, "idempotency_key": str(uuid.uuid4())},
        follow_redirects=True,
    )
    _done(response, "Saved: ")


def _review(client, demo, goal: int, **fields: str) -> None:
    """The team's review of a goal, as Dr. Rivera sends it from the goal page."""
    response = client.submit(f"/p/{demo.alex}/goals/{goal}/review", fields, follow_redirects=True)
    _done(response, "Saved your review.")


def _new_goal(client, demo, title: str) -> int:
    """A new goal of Alex's, measured by done or not done (the team sets its achievement)."""
    created = client.api("POST", f"/api/v1/patients/{demo.alex}/goals", json={"title": title})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def _entry_id(app, note: str) -> int:
    with app.app_context():
        return db.session.scalar(select(ProgressEntry.id).where(ProgressEntry.note == note))


def _post_message(client, demo, goal: int, body: str) -> int:
    response = client.submit(
        f"/p/{demo.alex}/goals/{goal}/messages", {"body": body}, follow_redirects=True
    )
    _done(response, "Sent.")
    with client.application.app_context():
        return db.session.scalar(select(GoalMessage.id).where(GoalMessage.body == body))


def _last_read(app, user_id: int, goal: int) -> int:
    with app.app_context():
        marker = db.session.get(GoalRead, (user_id, goal))
        return marker.last_read_message_id if marker else 0


def _reads_audited(app, user_id: int, goal: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.actor_id == user_id,
                AuditEvent.action == "read",
                AuditEvent.object_type == "goal",
                AuditEvent.object_id == goal,
            )
        )


def _clock(monkeypatch, ahead: timedelta) -> None:
    """Move the goal pages' clock forward: the page cache's `utcnow` (the "ago" texts and whether an
    entry can be changed) and the services' (whether a change is still allowed)."""

    def later():
        return utcnow() + ahead

    monkeypatch.setattr("portal.pagecache.utcnow", later)
    for module in ("reading", "lifecycle", "entries"):
        monkeypatch.setattr(f"portal.goals.{module}.utcnow", later)


# -- 1. every change shows at once ---------------------------------------------


@pytest.mark.parametrize("through", ["page", "api"])
def test_a_logged_entry_shows_at_once(demo, app, through):
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    note = f"Walked round the lake ({through})"
    for client in (alex, rivera):
        assert note not in _warm(app, client, url)
    before = _version(demo)

    if through == "page":
        _log(alex, demo, goal, note, value="35")
    else:  # as the web app sends an entry made offline
        response = alex.api(
            "POST",
            f"/api/v1/patients/{demo.alex}/goals/{goal}/entries",
            json={"value": 35, "note": note},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.get_json()

    assert _version(demo) != before
    for client in (alex, rivera):
        view = _view(app, client, url)
        assert not view.kept
        assert "35 minutes" in _entry(view.html, note)


def test_a_changed_entry_shows_at_once(demo, app):
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    _log(alex, demo, goal, "Short walk before rain", value="10")
    entry = _entry_id(app, "Short walk before rain")
    for client in (alex, rivera):
        item = _entry(_warm(app, client, url), "Short walk before rain")
        assert "10 minutes" in item and "(changed)" not in item
    before = _version(demo)

    response = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/entries/{entry}/edit",
        {"value": "45", "note": "Long walk after the rain"},
        follow_redirects=True,
    )
    _done(response, "Saved: ")

    assert _version(demo) != before
    for client in (alex, rivera):
        view = _view(app, client, url)
        assert not view.kept and "Short walk before rain" not in view.html
        item = _entry(view.html, "Long walk after the rain")
        assert "45 minutes" in item and "(changed)" in item


def test_a_deleted_entry_goes_at_once(demo, app):
    """On a goal measured by done or not done, deleting changes the entry row only."""
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _new_goal(alex, demo, "Stretch every morning")
    url = _page(demo, goal)
    _log(alex, demo, goal, "Logged on the wrong goal", value="", done="1")
    entry = _entry_id(app, "Logged on the wrong goal")
    for client in (alex, rivera):
        assert "Done" in _entry(_warm(app, client, url), "Logged on the wrong goal")
    before = _version(demo)

    response = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/entries/{entry}/delete", follow_redirects=True
    )
    _done(response, "Deleted your entry for ")

    assert _version(demo) != before
    for client in (alex, rivera):
        view = _view(app, client, url)
        assert not view.kept and "Logged on the wrong goal" not in view.html
        assert "Nothing logged yet." in view.html


@pytest.mark.parametrize(
    ("author", "body", "to_alex", "to_rivera"),
    [
        (RIVERA, "Try the hill path next week.", ["Dr. Riley Rivera"], ["<strong>You</strong>"]),
        # Alex's message is new to Dr. Rivera.
        (
            ALEX,
            "My knee hurts after the hill.",
            ["<strong>You</strong>"],
            ["Alex Morgan", "message--unread"],
        ),
    ],
    ids=["team-reply", "patient-message"],
)
def test_a_message_shows_at_once(demo, app, author, body, to_alex, to_rivera):
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    for client in (alex, rivera):
        assert body not in _warm(app, client, url)
    before = _version(demo)

    _post_message(rivera if author == RIVERA else alex, demo, goal, body)

    assert _version(demo) != before
    for client, expected in ((alex, to_alex), (rivera, to_rivera)):
        item = _message(_view(app, client, url).html, body)
        assert all(part in item for part in expected), item


def test_a_review_of_status_and_note_shows_at_once(demo, app):
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    alex_before = _warm(app, alex, url)
    assert "Log your progress" in alex_before and "On hold" not in _text(alex_before)
    rivera_before = _warm(app, rivera, url)
    assert "Resting the knee" not in rivera_before
    before = _version(demo)

    _review(rivera, demo, goal, status="on_hold", note="Resting the knee")

    assert _version(demo) != before
    alex_html = _view(app, alex, url).html
    assert "On hold" in _text(alex_html) and "Log your progress" not in alex_html
    rivera_html = _view(app, rivera, url).html
    assert "On hold" in _text(rivera_html)
    assert re.search(r'<option selected value="on_hold">', rivera_html)
    assert "Resting the knee</textarea>" in rivera_html  # the review form shows the new note


def test_a_review_of_achievement_shows_at_once(demo, app):
    """Where nothing is measured, the team sets how the goal is going."""
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _new_goal(alex, demo, "Stretch every evening")
    url = _page(demo, goal)
    assert '<option selected value="in_progress">' in _warm(app, rivera, url)
    before = _version(demo)

    _review(rivera, demo, goal, status="active", achievement="improving")

    assert _version(demo) != before
    html = _view(app, rivera, url).html
    assert '<option selected value="improving">' in html
    assert '<option selected value="in_progress">' not in html


# -- 2. unread marks, read markers and the audit trail ---------------------------


def test_a_team_message_is_new_once_then_read(demo, app):
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    assert "message--unread" not in _warm(app, alex, url)  # the seeded replies are read now

    message = _post_message(rivera, demo, goal, "Well done this week!")

    first = _view(app, alex, url)
    assert first.rendered  # a new message: new versions, a new page
    item = _message(first.html, "Well done this week!")
    assert "message--unread" in item and '<span class="tag tag--new">New</span>' in item
    assert _last_read(app, demo.users[ALEX], goal) == message
    second = _view(app, alex, url)
    assert second.kept  # the very page the first view kept: only its unread marks differ
    item = _message(second.html, "Well done this week!")
    assert "message--unread" not in item and "tag--new" not in item
    third = _view(app, alex, url)
    assert third.kept
    assert "message--unread" not in third.html and "tag--new" not in third.html


def test_reading_a_kept_page_marks_the_thread_read_and_is_audited(demo, app):
    """The read marker names no page: a kept page works out its unread marks per view."""
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    message = _post_message(rivera, demo, goal, "How is the knee today?")
    assert "message--unread" not in _warm(app, alex, url)  # read now, and kept so
    version = _version(demo)
    with app.app_context():  # Alex's marker falls behind the newest message again
        db.session.execute(
            update(GoalRead)
            .where(GoalRead.user_id == demo.users[ALEX], GoalRead.goal_id == goal)
            .values(last_read_message_id=message - 1)
        )
        db.session.commit()
    assert _version(demo) == version  # read markers are per reader: not the page's data

    view = _view(app, alex, url)
    assert view.kept  # nothing of the goal was loaded for Alex
    assert "message--unread" in _message(view.html, "How is the knee today?")
    assert _last_read(app, demo.users[ALEX], goal) == message  # marked read all the same

    audited = _reads_audited(app, demo.users[ALEX], goal)
    for _ in range(2):
        view = _view(app, alex, url)
        assert view.kept and "message--unread" not in view.html
        # The session, access, the page's state, the chain and the audit row: nothing else.
        assert len(view.statements) == 4 + chain_statements(app), view.statements
    assert _reads_audited(app, demo.users[ALEX], goal) == audited + 2


# -- 3. per-request slots: CSRF tokens and idempotency keys ----------------------


def test_each_view_gets_a_fresh_idempotency_key_and_a_working_token(demo, app):
    alex = demo.login(ALEX)
    goal = _goal(demo, "servings")
    url = _page(demo, goal)
    first = _warm(app, alex, url)
    view = _view(app, alex, url)
    assert view.kept
    second = view.html
    for html in (first, second):
        assert "\x00" not in html
        token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        forms = re.findall(r'name="csrf_token" value="([^"]+)"', html)
        assert forms and set(forms) == {token}
    (action, fields), (_, other) = _entry_form(first, goal), _entry_form(second, goal)
    assert re.fullmatch(UUID, fields["idempotency_key"])
    assert re.fullmatch(UUID, other["idempotency_key"])
    assert fields["idempotency_key"] != other["idempotency_key"]

    response = alex.post(action, data={**other, "value": "3", "note": "Carrots and peas"})
    assert response.status_code == 303, text_of(response)
    with app.app_context():
        entry = db.session.scalar(
            select(ProgressEntry).where(ProgressEntry.idempotency_key == other["idempotency_key"])
        )
        assert entry is not None and entry.note == "Carrots and peas"


def test_each_session_gets_its_own_csrf_token(demo, app):
    first, second = demo.login(ALEX), demo.login(ALEX)
    goal = _goal(demo, "servings")
    url = _page(demo, goal)
    first_page = _warm(app, first, url)
    view = _view(app, second, url)
    assert view.kept  # the same markup, kept once for Alex
    second_page = view.html
    (action, first_fields), (_, second_fields) = (
        _entry_form(first_page, goal),
        _entry_form(second_page, goal),
    )
    assert first_fields["csrf_token"] != second_fields["csrf_token"]
    refused = second.post(action, data={**second_fields, "csrf_token": first_fields["csrf_token"]})
    assert refused.status_code == 400
    assert second.post(action, data={**second_fields, "value": "2"}).status_code == 303


# -- 4. what changes with the clock ------------------------------------------------


def test_change_and_delete_go_after_24_hours_on_a_cached_page(demo, app, monkeypatch):
    """The clock is moved (not the entry's `created_at`): changing a row, however it is
    written, would be a new page by the data's own version; only a moved clock shows
    whether the kept page itself follows the 24 hours (a region decided per view)."""
    alex = demo.login(ALEX)
    goal = _goal(demo, "servings")  # no thread: nothing else on it follows the clock
    url = _page(demo, goal)
    _log(alex, demo, goal, "Salad at lunch", value="2")
    entry = _entry_id(app, "Salad at lunch")
    fresh = _warm(app, alex, url)
    assert f"/entries/{entry}/edit" in _entry(fresh, "Salad at lunch")
    assert f"/entries/{entry}/delete" in _entry(fresh, "Salad at lunch")
    version = _version(demo)

    _clock(monkeypatch, timedelta(hours=25))

    view = _view(app, alex, url)
    assert view.kept  # the same page: the clock is in no key
    assert _version(demo) == version
    later = view.html
    item = _entry(later, "Salad at lunch")
    assert "/edit" not in item and "/delete" not in item and "Change" not in item
    assert "2 servings" in item

    def rest(html: str) -> str:
        html = re.sub(r'<div class="item-actions">.*?</details>\s*</div>', "", html, flags=re.S)
        html = re.sub(rf'name="idempotency_key" value="{UUID}"', "", html)
        # The CSRF token is signed with the time: two views a second apart differ in it.
        html = re.sub(r'(name="csrf[-_]token" (?:content|value)=")[^"]+', r"\1", html)
        return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html))

    assert rest(later) == rest(fresh)  # the page is otherwise the same
    # And the page agrees with what may be done now.
    refused = alex.get(f"/p/{demo.alex}/goals/{goal}/entries/{entry}/edit", follow_redirects=True)
    assert "for 24 hours after logging it" in text_of(refused)


def test_message_times_follow_the_clock_on_a_cached_page(demo, app, monkeypatch):
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    goal = _goal(demo, "servings")
    url = _page(demo, goal)
    _post_message(rivera, demo, goal, "Frozen vegetables count too.")
    now = _warm(app, alex, url)
    assert "just now" in _message(now, "Frozen vegetables count too.")
    version = _version(demo)

    _clock(monkeypatch, timedelta(minutes=5))

    view = _view(app, alex, url)
    assert view.kept and _version(demo) == version  # the same page, its times worked out now
    item = _message(view.html, "Frozen vegetables count too.")
    assert "5 minutes ago" in item and "just now" not in item
    view = _view(app, alex, url)
    assert view.kept and "5 minutes ago" in _message(view.html, "Frozen vegetables count too.")


# -- 5. one viewer's markup never reaches another ----------------------------------


@pytest.mark.parametrize("measure", ["minutes", "servings"])
def test_a_viewer_never_gets_another_viewers_page(demo, app, measure):
    """On the vegetables goal (nothing logged, no thread) all else in the two viewers' keys
    is the same: only who views tells the pages apart."""
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    url = _page(demo, _goal(demo, measure))
    for _ in range(2):
        patient_page = _warm(app, alex, url)
        assert "Log your progress" in patient_page and "Review this goal" not in patient_page
        assert "Messages with your care team" in patient_page
        clinician_page = _warm(app, rivera, url)
        assert "Review this goal" in clinician_page and "Log your progress" not in clinician_page
        assert "Messages with your care team" not in clinician_page


def test_strangers_get_404_on_a_cached_goal_page(demo, app):
    alex = demo.login(ALEX)
    goal = _goal(demo, "minutes")
    _warm(app, alex, _page(demo, goal))
    for email in (BLAKE, CHEN):
        client = demo.login(email)
        assert client.get(_page(demo, goal)).status_code == 404
        # Nor under a patient of their own (Dr. Chen is on Blake's team).
        assert client.get(f"/p/{demo.blake}/goals/{goal}").status_code == 404
    assert _view(app, alex, _page(demo, goal)).kept  # Alex's page is still kept


# -- 6. whether the goal may be seen is asked on every request ---------------------


def test_a_goal_made_sensitive_is_404_at_once_for_who_may_not_see_it(demo, app, monkeypatch):
    """No demo viewer lacks the `sensitive` scope yet (caregiver grants come later), so the
    care team's scopes stand in for one here. The goal is marked sensitive with a Core UPDATE,
    which no service sees: the database renews the version, and the per-request state query
    turns the kept page away."""
    import portal.access

    monkeypatch.setattr(
        portal.access, "CARE_TEAM_SCOPES", portal.access.CARE_TEAM_SCOPES - {Scope.SENSITIVE}
    )
    alex, rivera = demo.login(ALEX), demo.login(RIVERA)
    assert rivera.get(_page(demo, _goal(demo, "mood"))).status_code == 404  # sensitive already
    assert alex.get(_page(demo, _goal(demo, "mood"))).status_code == 200
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    assert "tag--sensitive" not in _warm(app, rivera, url)
    assert "tag--sensitive" not in _warm(app, alex, url)
    version = _version(demo)

    def mark(sensitivity):
        with app.app_context():
            db.session.execute(
                update(Goal.__table__)
                .where(Goal.__table__.c.id == goal)
                .values(sensitivity=sensitivity)
            )
            db.session.commit()

    mark(Sensitivity.BEHAVIORAL_HEALTH)
    assert _version(demo) != version
    assert rivera.get(url).status_code == 404
    view = _view(app, alex, url)  # Alex still may, and sees it marked at once
    assert view.rendered and "Sensitive: behavioral health" in _text(view.html)
    assert _view(app, alex, url).kept

    mark(None)
    view = _view(app, rivera, url)  # back in reach, shown as it is now
    assert view.rendered and "tag--sensitive" not in view.html
    assert "tag--sensitive" not in _view(app, alex, url).html


def test_a_clinician_taken_off_the_team_gets_404_at_once(demo, app):
    rivera, lee = demo.login(RIVERA), demo.login(LEE)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    _warm(app, lee, url)
    with app.app_context():
        member = db.session.scalar(
            select(CareTeamMember.id).where(
                CareTeamMember.patient_id == demo.alex,
                CareTeamMember.user_id == demo.users[LEE],
            )
        )
    # Rivera leads the team: only the lead removes members.
    assert rivera.submit(f"/p/{demo.alex}/team/{member}/remove").status_code == 302
    assert lee.get(url).status_code == 404


# -- 7. flashed messages -----------------------------------------------------------


def test_a_flashed_message_shows_once_on_a_cached_goal_page(demo, app):
    alex = demo.login(ALEX)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    _warm(app, alex, url)
    after = alex.submit(
        f"/p/{demo.alex}/goals/{goal}/messages", {"body": "Off to the park."}, follow_redirects=True
    )
    page = after.get_data(as_text=True)
    assert "Sent. Your care team will see it." in page and "Off to the park." in page
    assert "\x00" not in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert set(re.findall(r'name="csrf_token" value="([^"]+)"', page)) == {token}
    again = _view(app, alex, url).html
    assert "Sent." not in _text(again) and "Off to the park." in again
    third = _view(app, alex, url)
    assert third.kept and "Sent." not in _text(third.html)


def test_a_flash_without_a_change_shows_once_on_a_cached_goal_page(demo, app):
    """Sending the same entry twice changes nothing (same version, same key), yet says so."""
    alex = demo.login(ALEX)
    goal = _goal(demo, "minutes")
    url = _page(demo, goal)
    form = {"value": "20", "note": "Sent twice", "idempotency_key": str(uuid.uuid4())}
    assert alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", form).status_code == 303
    _warm(app, alex, url)
    version = _version(demo)
    again = alex.submit(f"/p/{demo.alex}/goals/{goal}/entries", form)
    assert again.status_code == 303 and again.headers["Location"].endswith(f"{url}#saved-{goal}")
    assert _version(demo) == version  # nothing was written
    flashed = _view(app, alex, url)
    assert flashed.rendered and not flashed.added  # rendered afresh, and not kept
    assert "That was already saved." in _text(flashed.html) and "\x00" not in flashed.html
    view = _view(app, alex, url)
    assert view.kept and "That was already saved." not in view.html


def test_a_new_day_for_the_patient_is_a_new_page(demo, app, monkeypatch):
    """The chart, week and streak follow the patient's day: the key names it."""
    from portal.goals import reading

    alex = demo.login(ALEX)
    url = _page(demo, _goal(demo, "minutes"))
    today = reading.patient_today
    with app.test_request_context():
        from portal.access import resolve
        from portal.auth.models import User

        day = today(resolve(db.session.get(User, demo.users[ALEX]), demo.alex))
    html = _warm(app, alex, url)
    assert f'max="{day.isoformat()}"' in html
    tomorrow = day + timedelta(days=1)
    monkeypatch.setattr(reading, "patient_today", lambda access: tomorrow)
    view = _view(app, alex, url)
    assert view.rendered and view.added  # a new page, kept for the new day
    assert f'max="{tomorrow.isoformat()}"' in view.html


def test_a_new_team_role_shows_at_once_on_a_cached_goal_page(demo, app):
    """The header names the clinician's role on the team; a Core UPDATE renews the version."""
    rivera = demo.login(RIVERA)
    url = _page(demo, _goal(demo, "minutes"))
    assert "you are their Primary care physician" in _text(_warm(app, rivera, url))
    version = _version(demo)
    with app.app_context():
        db.session.execute(
            update(CareTeamMember)
            .where(
                CareTeamMember.patient_id == demo.alex,
                CareTeamMember.user_id == demo.users[RIVERA],
            )
            .values(role="Care coordinator")
        )
        db.session.commit()
    assert _version(demo) != version
    assert "you are their Care coordinator" in _text(_view(app, rivera, url).html)
