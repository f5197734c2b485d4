"""The access log's index of list events (portal/audit/listed.py): filled in batches, never wrong.

A list view writes one sealed event naming its patients; the spans of
`audit_list_spans` come later, from the deliverer's loop, `flask audit
index`, or the reader itself. These tests hold the promises that make that
safe: a reader never misses a view nor reads one twice, a batch writes a span
per patient however many views it covers, two batches never write a span
twice, and the verifier catches a span removed or added by hand.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update

from portal.audit import append_only, listed
from portal.audit.log import patient_access_log
from portal.audit.models import AuditEvent, AuditListIndex, AuditListSpan
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import Clinic


@pytest.fixture()
def panel(app):
    """Three patients on Dr. Park's team; she has not looked at a list yet."""
    made = Clinic(app)
    doctor = made.clinician("Dr. Ada Park")
    patients = [made.patient(f"Robin{n}", "Hale") for n in range(3)]
    for patient in patients:
        made.team(patient, doctor)
    return made, doctor, patients


def _spans(app) -> list[tuple[int, int, int]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(
                    AuditListSpan.patient_id, AuditListSpan.first_event, AuditListSpan.last_event
                ).order_by(AuditListSpan.patient_id, AuditListSpan.first_event)
            )
        ]


def _index_rows(app) -> list[tuple[int, int]]:
    """Every (patient, event) the index gives a reader: the events in each of the
    patient's spans that list them, each once."""
    lists = dict(_list_events(app))
    found = {
        (patient, event)
        for patient, first, last in _spans(app)
        for event, ids in lists.items()
        if first <= event <= last and str(patient) in ids.split(",")
    }
    return sorted(found)


def _list_events(app) -> list[tuple[int, str]]:
    with app.app_context():
        return db.session.execute(
            select(AuditEvent.id, AuditEvent.patient_ids)
            .where(AuditEvent.action == "list")
            .order_by(AuditEvent.id)
        ).all()


def _expected(app) -> list[tuple[int, int]]:
    """Every (patient, event) the sealed list events name."""
    return sorted(
        (int(p), event_id) for event_id, ids in _list_events(app) for p in ids.split(",") if p
    )


def _verify(app) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_a_list_view_leaves_its_patients_to_the_next_batch(app, panel):
    made, doctor, patients = panel
    made.login(doctor.email).get("/clinic/")
    [(event, ids)] = _list_events(app)
    assert sorted(map(int, ids.split(","))) == sorted(p.id for p in patients)
    assert _index_rows(app) == []
    assert _verify(app)[0] == 0  # not yet indexed is not broken
    result = app.test_cli_runner().invoke(args=["audit", "index"])
    assert result.exit_code == 0, result.output
    assert _spans(app) == sorted((p.id, event, event) for p in patients)
    assert _index_rows(app) == _expected(app)
    assert _verify(app)[0] == 0
    # Nothing new: a second run writes nothing and leaves the mark where it was.
    with app.app_context():
        through = listed.indexed_through(db.session.connection())
    app.test_cli_runner().invoke(args=["audit", "index"])
    assert _index_rows(app) == _expected(app)
    with app.app_context():
        assert listed.indexed_through(db.session.connection()) == through


def test_a_batch_writes_a_span_per_patient_however_many_views_it_covers(app, panel):
    """The same inbox viewed again and again: a span per patient, each view still in every log."""
    made, doctor, patients = panel
    client = made.login(doctor.email)
    for _ in range(4):
        client.get("/clinic/")
    client.get("/clinic/?q=Robin1")  # a view showing one of them
    client.get(f"/p/{patients[2].id}/plan")  # a row that is no list between them
    client.get("/clinic/")
    events = [event for event, _ids in _list_events(app)]
    assert len(events) == 6
    with app.app_context():
        listed.index_all(db.session)
    first, last = events[0], events[-1]
    assert _spans(app) == sorted((p.id, first, last) for p in patients)
    assert _index_rows(app) == _expected(app)
    assert len(_index_rows(app)) == 5 * 3 + 1
    for patient in patients:
        with app.app_context():
            log = [e for e in patient_access_log(patient.id) if e.listed]
            db.session.commit()
        assert len(log) == (6 if patient == patients[1] else 5)
    assert _verify(app)[0] == 0


def test_the_patient_sees_the_view_at_once_whoever_indexed_last(app, panel):
    """The access log page runs the batch itself: no loop needs to have run."""
    made, doctor, patients = panel
    made.login(doctor.email).get("/clinic/")
    page = made.login(patients[0].email).get(f"/p/{patients[0].id}/who-has-seen")
    assert page.status_code == 200, page.status_code
    assert "Dr. Ada Park" in text_of(page)
    assert len(_index_rows(app)) == 3  # committed with the page's request


def test_batches_in_a_row_cover_every_event(app, panel, monkeypatch):
    made, doctor, patients = panel
    monkeypatch.setattr(listed, "BATCH_EVENTS", 2)  # trail rows per batch
    client = made.login(doctor.email)
    for _ in range(4):
        client.get("/clinic/")
        client.get(f"/p/{patients[1].id}/plan")  # rows between the list events
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert listed.index_all(db.session) == total
        assert listed.indexed_through(db.session.connection()) == total
    assert _index_rows(app) == _expected(app)
    assert len(_index_rows(app)) == 4 * 3


def test_batches_at_once_write_each_span_once(app, panel):
    """The loop and readers may run a batch at the same moment: the state row's lock orders them."""
    made, doctor, _patients = panel
    client = made.login(doctor.email)
    for _ in range(5):
        client.get("/clinic/")
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                start.wait()
                listed.index_all(db.session)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert _index_rows(app) == _expected(app)
    assert len(_index_rows(app)) == 5 * 3
    assert len(_spans(app)) == 3  # one batch wrote them; the others found nothing left


def test_a_mark_set_back_by_hand_covers_every_event_again_and_each_is_read_once(app, panel):
    """The batch after it starts where spans already start: it still covers the views since."""
    made, doctor, patients = panel
    client = made.login(doctor.email)
    client.get("/clinic/")
    client.get("/clinic/")
    with app.app_context():
        listed.index_all(db.session)
        db.session.execute(update(AuditListIndex).values(indexed_through=0))
        db.session.commit()
    client.get("/clinic/")  # past the old mark: the spans written before end before it
    with app.app_context():
        assert [e.listed for e in patient_access_log(patients[2].id)] == [True] * 3
        db.session.commit()
    assert _index_rows(app) == _expected(app)
    assert _verify(app)[0] == 0


def test_the_verifier_names_a_span_removed_or_added_by_hand(app, panel):
    made, doctor, patients = panel
    client = made.login(doctor.email)
    client.get("/clinic/")
    with app.app_context():
        listed.index_all(db.session)
    client.get("/clinic/?q=Robin1")  # a second list event, not indexed yet
    [(first, _), (second, _)] = _list_events(app)
    spans = AuditListSpan.__table__
    with app.app_context():
        with db.engine.begin() as conn:
            append_only.drop(conn)
        try:
            # An indexed event that lost a patient: their access log would miss it.
            with db.engine.begin() as conn:
                conn.execute(spans.delete().where(spans.c.patient_id == patients[0].id))
            code, output = _verify(app)
            assert code == 1
            assert f"audit row {first}: {listed.MISSING}" in output
            with db.engine.begin() as conn:
                conn.execute(
                    spans.insert().values(
                        patient_id=patients[0].id, first_event=first, last_event=first
                    )
                )
            assert _verify(app)[0] == 0
            # A span reaching to an event that does not list its patient: caught too,
            # though a reader would not show that event (it reads the event's own list).
            with db.engine.begin() as conn:
                conn.execute(
                    spans.insert().values(
                        patient_id=patients[2].id, first_event=second, last_event=second
                    )
                )
            code, output = _verify(app)
            assert code == 1
            assert f"audit row {second}: {listed.NOT_LISTED}" in output
            with app.app_context():
                shown = [e.event_id for e in patient_access_log(patients[2].id) if e.listed]
                db.session.rollback()
            assert shown == [first]
        finally:
            with db.engine.begin() as conn:
                append_only.create(conn)


def test_the_deliverers_loop_indexes_on_every_pass(app, panel):
    from portal.notifications.cli import index_audit_lists
    from portal.notifications.delivery import deliver_forever

    made, doctor, _patients = panel
    made.login(doctor.email).get("/clinic/")
    stop = threading.Event()

    def on_pass(_stats) -> None:
        index_audit_lists(app)
        stop.set()

    thread = threading.Thread(
        target=deliver_forever,
        args=(app,),
        kwargs={"interval": 0.1, "stop": stop, "on_pass": on_pass},
    )
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert _index_rows(app) == _expected(app)
    assert len(_index_rows(app)) == 3


def test_the_migration_turns_each_indexed_row_into_a_span_and_back():
    """Upgrading keeps every access log as it read; downgrading writes the rows back."""
    from flask_migrate import downgrade, upgrade

    from portal import create_app
    from portal.audit import chain
    from tests.test_migrations import _fresh_database_url

    url, drop = _fresh_database_url()
    migrated = create_app(
        {"PORTAL_ENV": "test", "SECRET_KEY": "x", "MIGRATIONS": True}
        | {"SQLALCHEMY_DATABASE_URI": url}
    )
    lists = ["1,2", "", "2,3"]
    rows = sorted((int(p), n + 1) for n, ids in enumerate(lists) for p in ids.split(",") if p)
    old_rows = "SELECT patient_id, event_id FROM audit_event_patients ORDER BY 1, 2"
    try:
        with migrated.app_context():
            upgrade(revision="d1f3a5c7e9b2")
            with db.engine.begin() as conn:
                events = [
                    {"relation": "care_team", "action": "list", "object_type": "panel"}
                    | {"patient_ids": ids, "at": datetime.now(UTC)}
                    for ids in lists
                ]
                chain.write(conn, events)
                for patient_id, event_id in rows:
                    conn.execute(
                        text("INSERT INTO audit_event_patients VALUES (:p, :e)"),
                        {"p": patient_id, "e": event_id},
                    )
                conn.execute(text("UPDATE audit_list_index SET indexed_through = 3"))
            upgrade()
            with db.engine.connect() as conn:
                spans = conn.execute(
                    select(
                        AuditListSpan.patient_id,
                        AuditListSpan.first_event,
                        AuditListSpan.last_event,
                    ).order_by(AuditListSpan.patient_id, AuditListSpan.first_event)
                ).all()
                report = chain.verify(conn)
            assert spans == [(p, e, e) for p, e in rows]
            assert report.problem is None and report.rows == 3
            downgrade(revision="d1f3a5c7e9b2")
            with db.engine.connect() as conn:
                assert conn.execute(text(old_rows)).all() == rows
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
