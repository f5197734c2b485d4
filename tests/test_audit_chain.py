"""The audit trail is sealed: any row edited, deleted or inserted in the database is named.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (scripts/with-postgres.sh).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from portal import config
from portal.audit import append_only, chain, head, listed
from portal.audit.models import AuditEvent, AuditListSpan
from portal.auth.models import User
from portal.extensions import db
from tests.factories import Clinic


@pytest.fixture()
def clinic(app):
    """A patient and two clinicians on the team; each has looked at the plan (audited)."""
    made = Clinic(app)
    doctor = made.clinician("Dr. Ada Park")
    nurse = made.clinician("Kim Nurse")
    patient = made.patient("Robin", "Hale")
    made.team(patient, doctor)
    made.team(patient, nurse, role="Nurse")
    for who in (doctor, nurse, patient.user):
        client = made.login(who.email)
        assert client.get(f"/p/{patient.id}/plan").status_code == 200
    made.login(doctor.email).get("/clinic/")  # a list event with its patients
    return made, doctor, nurse, patient


def _verify(app) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


@contextmanager
def _intruder(app) -> Iterator:
    """A connection of someone with database access: the append-only triggers dropped."""
    with app.app_context():
        # Schema changes from fresh connections only: a pooled SQLite connection whose cached
        # schema has the same cookie as the file (the snapshots' backups reset it, see
        # tests/snapshot.py) would not see the triggers go and come back.
        db.engine.dispose()
        with db.engine.begin() as conn:
            append_only.drop(conn)
        try:
            with db.engine.begin() as conn:
                yield conn
        finally:
            with db.engine.begin() as conn:
                append_only.create(conn)


def _rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_an_untouched_trail_verifies(app, clinic):
    code, output = _verify(app)
    assert code == 0, output
    rows = _rows(app)
    assert rows >= 8  # four sign-ins, three plan views, a panel
    assert f"Audit trail intact: {rows} rows" in output


def test_ids_follow_each_other_and_every_column_is_sealed(app, clinic):
    with app.app_context():
        ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        listed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "list")).one()
    assert ids == list(range(1, len(ids) + 1))
    assert listed.patient_ids == str(clinic[3].id)
    for column in ("session_id", "client_addr"):
        assert getattr(listed, column) is not None, column


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_events SET action = 'create' WHERE id = 5",
        "UPDATE audit_events SET at = at WHERE id = 5",  # the same value: still sealed as was
        "UPDATE audit_events SET client_addr = '10.9.9.9' WHERE id = 5",
        "UPDATE audit_events SET actor_id = NULL WHERE id = 5",
    ],
    ids=["action", "unchanged", "address", "actor"],
)
def test_an_edited_row_is_named(app, clinic, change):
    with _intruder(app) as conn:
        conn.execute(text(change))
    code, output = _verify(app)
    if "at = at" in change:
        assert code == 0, output  # rewriting a value unchanged changes nothing
        return
    assert code == 1
    assert "audit row 5: was changed or inserted outside the portal" in output
    assert "The 4 rows before it are intact." in output


def test_a_deleted_row_is_named(app, clinic):
    with _intruder(app) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 3"))
    code, output = _verify(app)
    assert code == 1
    assert "audit row 4: does not follow row 2: rows 3 to 3 were deleted" in output


def test_deleting_the_first_rows_is_named(app, clinic):
    with _intruder(app) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id <= 2"))
    code, output = _verify(app)
    assert code == 1 and "audit row 3: is the first row, but rows 1 to 2 were deleted" in output


def test_an_inserted_row_is_named(app, clinic):
    last = _rows(app)
    with _intruder(app) as conn:
        mac = conn.execute(select(AuditEvent.mac).where(AuditEvent.id == last)).scalar()
        conn.execute(
            AuditEvent.__table__.insert().values(
                id=last + 1,
                at=func.now(),
                actor_id=None,
                relation="none",
                action="read",
                object_type="care_plan",
                mac=mac,  # a copied seal does not fit another row
            )
        )
    code, output = _verify(app)
    assert code == 1
    assert f"audit row {last + 1}: was changed or inserted outside the portal" in output


def test_a_list_event_losing_a_patient_is_named(app, clinic):
    """The patient's access log reads audit_list_spans: removing a span there is caught."""
    with app.app_context():
        event = db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "list"))
        listed.index_all(db.session)
    with _intruder(app) as conn:
        conn.execute(AuditListSpan.__table__.delete())
    code, output = _verify(app)
    assert code == 1
    assert f"audit row {event}: {listed.MISSING}" in output


@pytest.mark.parametrize(
    "where", ["past the last", "before the first", "reaching past the last", "to a direct view"]
)
def test_a_span_made_by_hand_is_named(app, clinic, where):
    """No foreign key keeps a span out of audit_list_spans or holds its ends: the verifier does."""
    made, doctor, _nurse, patient = clinic
    made.login(doctor.email).get(f"/p/{patient.id}/plan")  # a row after the list event
    with app.app_context():
        listed.index_all(db.session)
        last = db.session.scalar(select(func.max(AuditEvent.id)))
        listing = db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "list"))
    assert _verify(app)[0] == 0 and listing < last
    first, end, named, reason = {
        "past the last": (last + 5, last + 5, last + 5, listed.NO_EVENT),
        "before the first": (0, 0, 0, listed.NO_EVENT),
        "reaching past the last": (listing, last + 5, last + 5, listed.NO_EVENT),
        "to a direct view": (listing, last, last, listed.NOT_LISTED),
    }[where]
    spans = AuditListSpan.__table__
    with _intruder(app) as conn:
        # A span made longer is deleted and written again: the database refuses a change.
        conn.execute(spans.delete().where(spans.c.first_event == first))
        conn.execute(
            spans.insert().values(patient_id=patient.id, first_event=first, last_event=end)
        )
    code, output = _verify(app)
    assert code == 1
    assert f"audit row {named}: {reason}" in output


def test_removing_the_newest_rows_up_to_the_index_mark_is_named(app, clinic):
    """The chain alone cannot tell its last rows are gone; the index knows how far it went."""
    with app.app_context():
        listed.index_all(db.session)
        last = db.session.scalar(select(func.max(AuditEvent.id)))
    with _intruder(app) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id >= :n"), {"n": last - 1})
    code, output = _verify(app)
    assert code == 1
    assert f"audit row {last - 1}: is missing: the access log's index covers rows up to {last}" in (
        output
    )


def test_the_database_refuses_to_change_a_row(app, clinic):
    with (
        app.app_context(),
        pytest.raises(DBAPIError, match="append-only"),
        db.engine.begin() as conn,
    ):
        conn.execute(text("UPDATE audit_events SET action = 'x' WHERE id = 1"))


def test_deleting_an_account_or_a_record_changes_no_sealed_row(app, clinic):
    """No foreign key rewrites the trail (ON DELETE SET NULL would have broken the seals)."""
    _made, doctor, _nurse, patient = clinic
    before = _rows(app)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM auth_sessions WHERE user_id = :u"), {"u": doctor.id})
            conn.execute(text("DELETE FROM care_team_members WHERE user_id = :u"), {"u": doctor.id})
            conn.execute(User.__table__.delete().where(User.id == doctor.id))
        actors = db.session.scalars(select(AuditEvent.actor_id)).all()
    assert doctor.id in actors and _rows(app) == before
    assert patient.id
    code, output = _verify(app)
    assert code == 0, output


def test_a_key_other_than_the_sealing_one_fails_at_the_first_row(app, clinic):
    app.config["AUDIT_KEY"], key = "another key entirely", app.config["AUDIT_KEY"]
    try:
        code, output = _verify(app)
    finally:
        app.config["AUDIT_KEY"] = key
    assert code == 1 and "audit row 1:" in output


def test_many_requests_at_once_seal_one_unbroken_chain(app, clinic):
    """Threads, each its own database connection (on PostgreSQL as separate as processes):
    the chain's lock orders them, nobody fails, and the trail verifies."""
    made, doctor, nurse, patient = clinic
    clients = [made.login(who.email) for who in (doctor, nurse, patient.user) for _ in range(2)]
    before = _rows(app)
    statuses: list[int] = []
    start = threading.Barrier(len(clients))

    def browse(client) -> None:
        start.wait()
        for _ in range(5):
            statuses.append(client.get(f"/p/{patient.id}/plan").status_code)

    threads = [threading.Thread(target=browse, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 30
    assert _rows(app) == before + 30
    code, output = _verify(app)
    assert code == 0, output


def test_a_writer_that_waited_for_the_lock_seals_after_the_row_committed_meanwhile(app, clinic):
    """PostgreSQL: the lock and the last row are one call (portal/audit/head.py). The row it
    reads is the one committed while it waited, not the one there when the call began."""
    made, doctor, _nurse, patient = clinic
    if made.app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite: the INSERT reads the last row under the write lock (test below)")
    row = {"at": datetime.now(UTC), "actor_id": doctor.id, "relation": "care_team"}
    row |= {"patient_id": patient.id, "action": "read", "object_type": "care_plan"}
    row |= {"object_id": None, "session_id": None, "client_addr": None}
    heads: list[tuple[int, str]] = []
    with app.app_context():
        first, second, watcher = (db.engine.connect() for _ in range(3))
        try:
            first.begin()
            chain.write(first, [row])  # holds the chain's lock until it commits
            written = first.execute(select(func.max(AuditEvent.id))).scalar()

            def seal_next() -> None:
                with second.begin():
                    heads.append(head.lock_and_read(second))

            waiter = threading.Thread(target=seal_next)
            waiter.start()
            waiting = text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            for _ in range(500):
                if watcher.execute(waiting).scalar():
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the second writer never waited for the lock")
            first.commit()
            waiter.join(timeout=10)
        finally:
            for connection in (first, second, watcher):
                connection.close()
    assert [head_id for head_id, _mac in heads] == [written]


def test_production_refuses_to_start_without_an_audit_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/db")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("PUBLIC_URL", "https://portal.example.org")
    monkeypatch.delenv("AUDIT_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="AUDIT_KEY"):
        config.load(tmp_path, {"PORTAL_ENV": "production"})
    monkeypatch.setenv("AUDIT_KEY", "a" * 40)
    assert config.load(tmp_path, {"PORTAL_ENV": "production"})["AUDIT_KEY"] == "a" * 40


def test_development_derives_a_key_it_says_is_derived(tmp_path):
    cfg = config.load(tmp_path, {"PORTAL_ENV": "test", "SECRET_KEY": "s"})
    assert cfg["AUDIT_KEY"].startswith("dev-derived-")


def test_the_migration_seals_the_rows_written_before_the_chain():
    """Upgrading a trail that has rows (with gaps in their ids) seals them; verify passes."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.audit import chain
    from tests.test_migrations import _fresh_database_url

    url, drop = _fresh_database_url()
    migrated = create_app(
        {
            "PORTAL_ENV": "test",
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": url,
            "MIGRATIONS": True,
        }
    )
    try:
        with migrated.app_context():
            upgrade(revision="0e8ded07b136")
            with db.engine.begin() as conn:
                for event_id in (1, 2, 5):
                    conn.execute(
                        text(
                            "INSERT INTO audit_events (id, at, relation, action, object_type)"
                            " VALUES (:id, :at, 'care_team', 'read', 'care_plan')"
                        ),
                        {"id": event_id, "at": f"2026-11-0{event_id} 10:00:00.123456"},
                    )
            upgrade()
            with db.engine.connect() as conn:
                report = chain.verify(conn)
            assert report.problem is None and report.rows == 3 and report.last_id == 5
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


def test_rows_written_together_are_sealed_in_order_in_one_statement(app, clinic, count_queries):
    """A request that audits several rows (a caregiver's list of the people they help) writes
    them as one statement whatever their number, each sealed after the one before."""
    from datetime import UTC, datetime

    from portal.audit import chain
    from tests.conftest import chain_statements

    _made, doctor, _nurse, patient = clinic
    rows = [
        {
            "at": datetime.now(UTC),
            "actor_id": doctor.id,
            "relation": "care_team",
            "patient_id": patient.id,
            "action": "read",
            "object_type": f"probe {n}",
            "object_id": n,
            "session_id": None,
            "client_addr": None,
        }
        for n in range(3)
    ]
    before = _rows(app)
    with app.app_context(), count_queries() as counter:
        chain.write(db.session.connection(), rows)
        db.session.commit()
    assert counter.count == 1 + chain_statements(app), counter.statements
    with app.app_context():
        written = db.session.scalars(
            select(AuditEvent.object_type).order_by(AuditEvent.id.desc()).limit(3)
        ).all()
    assert written == ["probe 2", "probe 1", "probe 0"]
    assert _rows(app) == before + 3
    code, output = _verify(app)
    assert code == 0, output


def test_the_sqlite_seal_function_seals_only_the_rows_being_written(app, clinic):
    """On SQLite `audit_seal` lives on the app's own connections: SQL reaching one of them
    (through a flaw, or a statement run by hand in `flask shell`) cannot use it to forge a
    seal. PostgreSQL has no such function: the app seals in Python."""
    with app.app_context():
        last = db.session.scalar(select(AuditEvent.mac).order_by(AuditEvent.id.desc()).limit(1))
        forged = text("SELECT audit_seal(:mac, 999999, :rest)")
        rest = '["2026-01-01T00:00:00.000000Z",1,"self",1,"read","care_plan",1,null,null,null,null]'
        with pytest.raises(DBAPIError) as refused:
            db.session.execute(forged, {"mac": last, "rest": rest})
        db.session.rollback()
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        assert "user-defined function raised exception" in str(refused.value)
    else:
        assert "audit_seal" in str(refused.value)  # does not exist
