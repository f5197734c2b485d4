"""`portal.prepared.Prepared` sends what `Connection.execute` sends and reads what it reads.

Each prepared statement of the portal runs twice on the same data, once through
SQLAlchemy's `Connection.execute` and once prepared, each in a savepoint rolled
back after it: the SQL and parameters the database received, the rows, and the
type of every value must be equal. Runs on SQLite and, with TEST_DATABASE_URL,
on PostgreSQL (scripts/with-postgres.sh). A prepared statement added to the
portal without a case here fails `test_every_prepared_statement_is_compared`.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, func, insert, select, text
from sqlalchemy.exc import IntegrityError

import portal
from portal import access as access_module
from portal.audit import chain, head
from portal.auth import services as auth_services
from portal.auth.models import AuthSession, User
from portal.careplan import reading as plan_reading
from portal.clinic import inbox
from portal.db import utcnow
from portal.extensions import db
from portal.goals import entries
from portal.goals import reading as goal_reading
from portal.goals.lifecycle import digest_params
from portal.goals.models import Achievement, Goal, ProgressEntry
from portal.prepared import Prepared

ALEX = "alex@example.com"
RIVERA = "rivera@example.com"
SAM = "sam@example.com"  # Alex's caregiver in the demo clinic


@contextmanager
def _sent(connection: Connection) -> Iterator[list[tuple[str, Any, bool]]]:
    """What reaches the database cursor: (SQL, parameters, executemany) per statement."""
    seen: list[tuple[str, Any, bool]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters, executemany))

    event.listen(connection.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(connection.engine, "before_cursor_execute", before)


def _rolled_back(connection: Connection, run: Callable[[], Any]) -> tuple[Any, list]:
    """`run()`'s answer and what it sent, in a savepoint undone after it."""
    savepoint = connection.begin_nested()
    try:
        with _sent(connection) as seen:
            answer = run()
        return answer, seen
    finally:
        savepoint.rollback()


def _same(
    connection: Connection, prepared: Prepared, params: Any, after: Any = None, new_id: bool = False
) -> list:
    """Run `prepared` both ways on `params`; check they agree; return the rows.

    `after`: a query whose row must also be the same after each. `new_id`: the
    statement returns a new row's id, which PostgreSQL's sequence does not give
    twice (a rollback does not return a number): compared by type only.
    """

    def sqlalchemy() -> list:
        result = connection.execute(prepared.statement, params)
        rows = [tuple(row) for row in result] if result.returns_rows else []
        return rows + ([tuple(connection.execute(after).one())] if after is not None else [])

    def ours() -> list:
        if isinstance(params, list) or not prepared.plan(connection.dialect).columns:
            prepared.execute(connection, params)
            rows = []
        else:
            rows = [tuple(row) for row in prepared.all(connection, params)]
        return rows + ([tuple(connection.execute(after).one())] if after is not None else [])

    theirs, their_sql = _rolled_back(connection, sqlalchemy)
    mine, my_sql = _rolled_back(connection, ours)
    # Each list holds the statement and, with `after`, the query read after it.
    assert my_sql == their_sql
    assert [[type(v) for v in row] for row in mine] == [[type(v) for v in row] for row in theirs]
    if new_id and mine and mine[0] != theirs[0]:
        assert connection.dialect.name == "postgresql" and mine[0][0] > theirs[0][0]
        mine, theirs = mine[1:], theirs[1:]
    assert mine == theirs
    return mine


@pytest.fixture()
def clinic(demo, app) -> Iterator[dict[str, Any]]:
    """The demo clinic, signed in as Alex, with one entry on Alex's first measured goal."""
    demo.login(ALEX)
    with app.app_context():
        goal = db.session.scalar(
            select(Goal).where(Goal.patient_id == demo.alex, Goal.measure == "minutes")
        )
        key = f"prepared-{uuid.uuid4()}"
        access = access_module.resolve(db.session.get(User, demo.users[ALEX]), demo.alex)
        entries.add_entry(access, goal.id, {"value": "25", "note": "a walk"}, key)
        db.session.commit()
        token_hash = db.session.scalar(
            select(AuthSession.token_hash).order_by(AuthSession.id.desc()).limit(1)
        )
        yield {"goal": goal.id, "key": key, "token_hash": token_hash, "demo": demo}
        db.session.remove()


COMPARED: set[str] = set()


def compares(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    COMPARED.add(name)
    return lambda test: test


@compares("portal.auth.services._LIVE_SESSION")
def test_a_live_session_reads_the_same(app, clinic):
    with app.app_context():
        connection = db.session.connection()
        rows = _same(connection, auth_services._LIVE_SESSION, {"token_hash": clinic["token_hash"]})
        assert len(rows) == 1 and rows[0][4] == ALEX
        assert rows[0][1].tzinfo is not None  # UTCDateTime's processor ran
        assert _same(connection, auth_services._LIVE_SESSION, {"token_hash": "0" * 64}) == []


@compares("portal.access._RELATION")
def test_each_relation_reads_the_same(app, clinic):
    demo = clinic["demo"]
    with app.app_context():
        connection = db.session.connection()
        for email, expect in ((ALEX, "self"), (RIVERA, "team"), (SAM, "grant")):
            params = {"pid": demo.alex, "uid": demo.users[email], "now": utcnow()}
            assert len(_same(connection, access_module._RELATION, params)) == 1
            found = access_module._RELATION.first(connection, params)
            assert found.id == demo.alex
            if expect == "self":
                assert found.user_id == demo.users[ALEX]
            elif expect == "team":
                assert found.role is not None
            else:
                assert found.grant_id is not None and found.grant_scopes
        stranger = {"pid": demo.blake, "uid": demo.users[SAM], "now": utcnow()}
        _same(connection, access_module._RELATION, stranger)
        found = access_module._RELATION.first(connection, stranger)
        assert found is None or (found.role is None and found.grant_id is None)


@compares("portal.goals.entries._GOAL_AND_KEY")
def test_the_entry_posts_read_reads_the_same(app, clinic):
    demo = clinic["demo"]
    now = utcnow()
    base = {"gid": clinic["goal"], "since": now.date() - timedelta(days=14)}
    with app.app_context():
        connection = db.session.connection()
        for key in (clinic["key"], "not-a-key-yet"):
            params = {**base, "key": key, **digest_params(demo.alex, now)}
            assert len(_same(connection, entries._GOAL_AND_KEY, params)) == 1
            found = entries._GOAL_AND_KEY.first(connection, params)
            assert found.window_days  # the JSON column's processor ran
            assert (found.e_note == "a walk") is (key == clinic["key"])
        assert isinstance(found.target_value, Decimal)


@compares("portal.goals.entries._ENTRY_BY_KEY")
def test_an_entry_by_its_key_reads_the_same(app, clinic):
    demo = clinic["demo"]
    with app.app_context():
        connection = db.session.connection()
        params = {"pid": demo.alex, "key": clinic["key"]}
        assert len(_same(connection, entries._ENTRY_BY_KEY, params)) == 1
        found = entries._ENTRY_BY_KEY.first(connection, params)
        assert entries._entry_of(found).note == "a walk"


@compares("portal.careplan.reading._STATE")
def test_the_plan_pages_state_reads_the_same(app, clinic):
    demo = clinic["demo"]
    with app.app_context():
        connection = db.session.connection()
        for email in (ALEX, RIVERA):  # with and without a seen mark
            params = {"pid": demo.alex, "uid": demo.users[email]}
            assert len(_same(connection, plan_reading._STATE, params)) == 1
        found = plan_reading._STATE.first(connection, params)
        assert found.data_version and found.plan_version >= 1


@compares("portal.goals.reading._GOAL_STATE")
def test_the_goal_pages_state_reads_the_same(app, clinic):
    demo = clinic["demo"]
    with app.app_context():
        connection = db.session.connection()
        for email in (ALEX, RIVERA):
            params = {"gid": clinic["goal"], "pid": demo.alex, "uid": demo.users[email]}
            assert len(_same(connection, goal_reading._GOAL_STATE, params)) == 1
        wrong_patient = {"gid": clinic["goal"], "pid": demo.blake, "uid": demo.users[ALEX]}
        assert _same(connection, goal_reading._GOAL_STATE, wrong_patient) == []


def _entry_fields(demo, goal: int, key: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "goal_id": goal,
        "patient_id": demo.alex,
        "entry_date": now.date(),
        "value": Decimal("12.5"),
        "done": None,
        "note": "prepared",
        "feeling": 3,
        "idempotency_key": key,
        "fingerprint": "f" * 64,
        "created_at": now,
        "created_by_id": demo.users[ALEX],
        "updated_at": None,
        "deleted_at": None,
    }


@compares("portal.goals.entries._INSERT_ENTRY")
def test_the_entry_insert_writes_the_same(app, clinic):
    demo = clinic["demo"]
    with app.app_context():
        connection = db.session.connection()
        statement = entries._INSERT_ENTRY[connection.dialect.name]
        newest = (
            select(ProgressEntry.value, ProgressEntry.note, ProgressEntry.created_at)
            .order_by(ProgressEntry.id.desc())
            .limit(1)
        )
        fresh = _entry_fields(demo, clinic["goal"], "fresh-key")
        rows = _same(connection, statement, fresh, after=newest, new_id=True)
        assert rows[-1][:2] == (Decimal("12.5"), "prepared")
        # The key already stored: nothing written, no id returned, on both paths.
        taken = _entry_fields(demo, clinic["goal"], clinic["key"])
        assert _same(connection, statement, taken) == []


@compares("portal.goals.entries._GOAL_AFTER_ENTRY")
def test_the_goals_update_writes_the_same(app, clinic):
    with app.app_context():
        connection = db.session.connection()
        after = select(Goal.achievement, Goal.awaiting_reply_since).where(Goal.id == clinic["goal"])
        params = {"gid": clinic["goal"], "achievement": Achievement.WORSENING, "now": utcnow()}
        (row,) = _same(connection, entries._GOAL_AFTER_ENTRY, params, after=after)
        assert row[0] is Achievement.WORSENING and row[1] is not None


_NEWEST_AUDIT_ROW = text(head.NEWEST_ROW)  # the chain head's own read of the last row


def _audit_rows() -> list[dict[str, Any]]:
    """Two audit rows about a plan and a goal, not yet numbered or sealed."""
    base = {"at": utcnow(), "actor_id": 1, "relation": "self", "action": "read"}
    return [{**base, "object_type": t} for t in ("care_plan", "goal")]


@compares("portal.audit.chain._SEALED_INSERT")
def test_the_sealed_audit_insert_writes_the_same(app, clinic):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name != "sqlite":
            pytest.skip("SQLite's statement: PostgreSQL seals in Python under its lock")
        rows = [chain._sealed_params(row) for row in _audit_rows()]
        chain._writing.rows = {row["sealed_rest"] for row in rows}
        try:
            one = _same(connection, chain._SEALED_INSERT, rows[0], after=_NEWEST_AUDIT_ROW)
            two = _same(connection, chain._SEALED_INSERT, rows, after=_NEWEST_AUDIT_ROW)
        finally:
            chain._writing.rows = None
        assert len(one[-1][1]) == 64 and two[-1][0] == one[-1][0] + 1


@compares("portal.audit.head._HEAD")
def test_the_chain_head_reads_the_same(app, clinic):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's function: SQLite's INSERT reads the last row itself")
        [(head_id, mac)] = _same(connection, head._HEAD, {})
        newest = select(func.max(chain.AuditEvent.id))
        assert head_id == connection.execute(newest).scalar() and len(mac) == 64


@compares("portal.audit.chain._PLAIN_INSERT")
def test_the_audit_insert_sealed_in_python_writes_the_same(app, clinic):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's statement: SQLite seals in its INSERT")
        rows = _audit_rows()
        chain.chain(rows, head.lock_and_read(connection))
        one = _same(connection, chain._PLAIN_INSERT, rows[0], after=_NEWEST_AUDIT_ROW)
        two = _same(connection, chain._PLAIN_INSERT, rows, after=_NEWEST_AUDIT_ROW)
        assert one[-1] == (rows[0]["id"], rows[0]["mac"])
        assert two[-1] == (rows[1]["id"], rows[1]["mac"])


@compares("portal.clinic.inbox._SHOWN")
@compares("portal.clinic.inbox._PAGES")
def test_an_inbox_page_reads_the_same(app, clinic):
    with app.app_context():
        connection = db.session.connection()
        rivera = db.session.get(User, clinic["demo"].users[RIVERA])
        for number in (1, 2):  # a page with goals, one past the end
            params = inbox._params(rivera, number)
            shown = _same(connection, inbox._SHOWN[connection.dialect.name], params)
            page = _same(connection, inbox._PAGES[connection.dialect.name], params)
            assert [row[:2] for row in shown] == [(row[0], row[2]) for row in page]
            assert bool(shown) == (number == 1)


def _portal_prepared() -> set[str]:
    found = set()
    for info in pkgutil.walk_packages(portal.__path__, "portal."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            kept = value.values() if isinstance(value, dict) else [value]
            if any(isinstance(item, Prepared) for item in kept):
                found.add(f"{info.name}.{name}")
    return found


def test_every_prepared_statement_is_compared():
    assert _portal_prepared() == COMPARED


# -- what it refuses, and how it fails ---------------------------------------


def test_sql_that_depends_on_the_call_is_refused(app):
    ids = Prepared(select(User.id).where(User.id.in_(bindparam("ids", expanding=True))))
    computed = Prepared(select(User.id).where(User.id == bindparam("uid", callable_=lambda: 1)))
    with app.app_context():
        connection = db.session.connection()
        with pytest.raises(TypeError, match="depend"):
            ids.all(connection, {"ids": [1, 2]})
        with pytest.raises(TypeError, match="computed"):
            computed.all(connection, {})


def test_a_missing_parameter_is_named(app):
    by_email = Prepared(select(User.id).where(User.email == bindparam("email")))
    bare_insert = Prepared(insert(User))  # no .values(): every column is a parameter
    with app.app_context():
        connection = db.session.connection()
        with pytest.raises(KeyError, match="email"):
            by_email.first(connection, {})
        with pytest.raises(KeyError):
            bare_insert.execute(connection, {"email": "x@example.com"})


def test_a_database_error_is_sqlalchemys_and_keeps_the_values_out(app, clinic):
    """The note of a refused entry is health information: not in the error's text."""
    demo = clinic["demo"]
    with app.app_context():
        connection = db.session.connection()
        statement = entries._INSERT_ENTRY[connection.dialect.name]
        fields = {**_entry_fields(demo, 10**9, "no-such-goal"), "note": "private-note-4711"}
        savepoint = connection.begin_nested()
        with pytest.raises(IntegrityError) as raised:
            statement.scalar(connection, fields)
        savepoint.rollback()
        assert "private-note-4711" not in str(raised.value)
        # The connection is still good for the rest of the request.
        assert (
            auth_services._LIVE_SESSION.first(connection, {"token_hash": clinic["token_hash"]})
            is not None
        )


def test_listeners_see_it_and_may_rewrite_it(app, count_queries):
    """Statement counters count it; a `retval=True` listener's SQL is what runs."""
    by_id = Prepared(select(User.email).where(User.id == bindparam("uid")))
    ran: list[str] = []

    def rewrite(conn, cursor, statement, parameters, context, executemany):
        return statement + " -- rewritten", parameters

    def after(conn, cursor, statement, parameters, context, executemany):
        ran.append(statement)

    with app.app_context():
        engine = db.engine
        connection = db.session.connection()
        event.listen(engine, "before_cursor_execute", rewrite, retval=True)
        event.listen(engine, "after_cursor_execute", after)
        try:
            with count_queries() as counted:
                by_id.first(connection, {"uid": 1})
                by_id.all(connection, {"uid": 2})
        finally:
            event.remove(engine, "before_cursor_execute", rewrite)
            event.remove(engine, "after_cursor_execute", after)
    assert counted.count == 2
    assert all(sql.endswith(" -- rewritten") for sql in ran) and len(ran) == 2
