"""A request's database work is one transaction on one connection (portal/transaction.py).

The hot paths never build an ORM session; a view that does use the ORM runs on
the same connection and transaction, so whichever way a request writes, one
COMMIT or one ROLLBACK ends all of it, with the audit rows queued for it.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from portal import audit, transaction
from portal.audit.models import AuditEvent
from portal.auth.models import User
from portal.extensions import db
from portal.goals.models import Goal, ProgressEntry

ALEX = "alex@example.com"
RIVERA = "rivera@example.com"
SAM = "sam@example.com"


@pytest.fixture()
def sessions_built(monkeypatch) -> list[object]:
    """Every ORM session built while the test runs."""
    built: list[object] = []
    original = transaction.RequestSession.__init__

    def init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(transaction.RequestSession, "__init__", init)
    return built


def _walk_goal(app, patient_id: int) -> int:
    with app.app_context():
        goal_id = db.session.scalar(
            select(Goal.id).where(Goal.patient_id == patient_id, Goal.measure != "done")
        )
        db.session.remove()
    return goal_id


def _count(app, model, *where) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(model).where(*where))
        db.session.remove()
    return found


@pytest.mark.parametrize(
    ("who", "page"),
    [
        (ALEX, "/p/{alex}/plan"),
        (SAM, "/p/{alex}/plan"),
        (RIVERA, "/p/{alex}/plan"),
        (ALEX, "/p/{alex}/goals/{goal}"),
        (SAM, "/p/{alex}/goals/{goal}"),
        (RIVERA, "/clinic/inbox"),
    ],
)
def test_a_kept_page_builds_no_orm_session(app, demo, sessions_built, who, page):
    """The second view of a page is served from what was kept: Core reads only."""
    client = demo.login(who)
    url = page.format(alex=demo.alex, goal=_walk_goal(app, demo.alex))
    assert client.get(url).status_code == 200  # rendered and kept
    sessions_built.clear()
    assert client.get(url).status_code == 200
    assert sessions_built == []


def test_logging_an_entry_builds_no_orm_session_and_commits_it_with_its_audit_row(
    app, demo, sessions_built
):
    """The hour's first entry also queues the team's digest (through the ORM); the next do not."""
    client = demo.login(ALEX)
    goal_id = _walk_goal(app, demo.alex)
    url = f"/api/v1/patients/{demo.alex}/goals/{goal_id}/entries"
    yesterday = (date.today() - timedelta(days=1)).isoformat()

    def log(value: int):
        return client.api(
            "POST",
            url,
            json={"value": value, "entry_date": yesterday},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    assert log(10).status_code == 201
    sessions_built.clear()
    answer = log(20)
    assert answer.status_code == 201, answer.get_json()
    assert sessions_built == []
    entry_id = answer.get_json()["id"]
    assert _count(app, ProgressEntry, ProgressEntry.id == entry_id) == 1
    created = (AuditEvent.action == "create", AuditEvent.object_id == entry_id)
    assert _count(app, AuditEvent, *created) == 1


def test_the_session_and_the_request_share_one_connection(app, demo):
    with app.test_request_context("/"):
        core = transaction.connection()
        assert db.session.connection() is core
        assert db.session.get(User, demo.users[ALEX]) is not None  # an ORM read joins it
        assert transaction.connection() is core


def _rename(user_id: int, name: str) -> None:
    transaction.connection().execute(update(User).where(User.id == user_id).values(name=name))


def _names(app, *ids: int) -> list[str]:
    """The accounts' names, in the order of `ids`."""
    with app.app_context():
        found = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
        db.session.remove()
    return [found[i] for i in ids]


def test_the_sessions_commit_ends_core_work_it_never_joined(app, demo):
    """`db.session.commit()` in a request commits the request's transaction, ORM or not."""
    alex = demo.users[ALEX]
    before = _count(app, AuditEvent)
    with app.test_request_context("/"):
        _rename(alex, "Core Write")
        audit.record_event(alex, "read", "page", None, demo.alex)
        db.session.commit()  # the session never ran a statement
    assert _names(app, alex) == ["Core Write"]
    assert _count(app, AuditEvent) == before + 1


def test_orm_and_core_writes_commit_together_and_again_after_a_commit(app, demo):
    alex, rivera = demo.users[ALEX], demo.users[RIVERA]
    before = _count(app, AuditEvent)
    with app.test_request_context("/"):
        _rename(alex, "Core Write")
        db.session.get(User, rivera).name = "Orm Write"
        audit.record_event(alex, "read", "page", None, demo.alex)
        db.session.commit()
        with db.engine.connect() as other:  # committed: another connection reads it
            query = select(User.name).where(User.id.in_((alex, rivera))).order_by(User.name)
            assert other.scalars(query).all() == ["Core Write", "Orm Write"]
        _rename(alex, "After The Commit")  # the next transaction, on the same connection
        audit.record_event(alex, "read", "page", None, demo.alex)
        transaction.commit()
    assert _names(app, alex, rivera) == ["After The Commit", "Orm Write"]
    assert _count(app, AuditEvent) == before + 2  # each row once, in its own transaction


def test_a_core_only_request_commits_without_a_session(app, demo, sessions_built):
    alex = demo.users[ALEX]
    with app.test_request_context("/"):
        _rename(alex, "Core Only")
        transaction.commit()
        assert sessions_built == []
    assert _names(app, alex) == ["Core Only"]


@pytest.mark.parametrize("orm", [False, True], ids=["core only", "core and orm"])
def test_a_rollback_drops_every_write_and_the_queued_audit_rows(app, demo, orm):
    alex, rivera = demo.users[ALEX], demo.users[RIVERA]
    before = _count(app, AuditEvent)
    with app.test_request_context("/"):
        _rename(alex, "Rolled Back")
        if orm:
            db.session.get(User, rivera).name = "Also Rolled Back"
            db.session.flush()
        audit.record_event(alex, "read", "page", None, demo.alex)
        assert transaction.info()
        transaction.rollback()
        assert not transaction.info()
        transaction.commit()  # nothing left to commit
    assert "Rolled Back" not in _names(app, alex, rivera)
    assert "Also Rolled Back" not in _names(app, alex, rivera)
    assert _count(app, AuditEvent) == before


def test_the_queued_audit_rows_commit_with_core_writes(app, demo, sessions_built):
    alex = demo.users[ALEX]
    before = _count(app, AuditEvent)
    sessions_built.clear()
    with app.test_request_context("/"):
        _rename(alex, "Audited")
        audit.record_event(alex, "read", "page", None, demo.alex)
        transaction.commit()
        assert sessions_built == []
    assert _names(app, alex) == ["Audited"]
    assert _count(app, AuditEvent) == before + 1


def test_the_end_of_a_request_returns_its_connection(app, demo):
    """Answered, refused or failed: no request keeps a pooled connection."""
    client = demo.login(ALEX)
    with app.app_context():
        pool = db.engine.pool
    for url in (f"/p/{demo.alex}/plan", f"/p/{demo.blake}/plan", "/p/999999/plan"):
        client.get(url)
        assert pool.checkedout() == 0, url
    with app.test_request_context("/"):
        _rename(demo.users[ALEX], "Never Committed")
    assert pool.checkedout() == 0
    assert _names(app, demo.users[ALEX]) != ["Never Committed"]


def test_a_plain_session_commits_outside_the_app(app, demo):
    """The commit hooks touch no app state when there is nothing queued (scripts, migrations)."""
    with app.app_context():
        engine = db.engine
    with Session(engine) as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
        session.commit()


def test_an_app_context_inside_a_request_returns_its_own_connection(app, demo):
    """Its `g` is its own: what it opened is closed when it ends, not left checked out."""
    with app.app_context():
        pool = db.engine.pool
    with app.test_request_context("/"):
        outer = transaction.connection()
        with app.app_context():
            inner = transaction.connection()
            assert inner is not outer
            assert pool.checkedout() == 2
        assert pool.checkedout() == 1
        assert transaction.connection() is outer
    assert pool.checkedout() == 0
