"""The access log's index of list events (portal/audit/listed.py): filled in batches, never wrong.

A list view writes one sealed event naming its patients; the rows of
`audit_event_patients` come later, from the deliverer's loop, `flask audit
index`, or the reader itself. These tests hold the promises that make that
safe: a reader never misses a view, two batches never write a row twice, and
the verifier still catches a removed row.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text, update

from portal.audit import append_only, listed
from portal.audit.log import patient_access_log
from portal.audit.models import AuditEvent, AuditEventPatient, AuditListIndex
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


def _index_rows(app) -> list[tuple[int, int]]:
    with app.app_context():
        return db.session.execute(
            select(AuditEventPatient.patient_id, AuditEventPatient.event_id).order_by(
                AuditEventPatient.patient_id, AuditEventPatient.event_id
            )
        ).all()


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


_DELETE_ONE = "DELETE FROM audit_event_patients WHERE event_id = :e AND patient_id = :p"


def _verify(app) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_a_list_view_leaves_its_patients_to_the_next_batch(app, panel):
    made, doctor, patients = panel
    made.login(doctor.email).get("/clinic/")
    [(_event, ids)] = _list_events(app)
    assert sorted(map(int, ids.split(","))) == sorted(p.id for p in patients)
    assert _index_rows(app) == []
    assert _verify(app)[0] == 0  # not yet indexed is not broken
    result = app.test_cli_runner().invoke(args=["audit", "index"])
    assert result.exit_code == 0, result.output
    assert _index_rows(app) == _expected(app)
    assert len(_index_rows(app)) == 3
    assert _verify(app)[0] == 0
    # Nothing new: a second run writes nothing and leaves the mark where it was.
    with app.app_context():
        through = listed.indexed_through(db.session.connection())
    app.test_cli_runner().invoke(args=["audit", "index"])
    assert _index_rows(app) == _expected(app)
    with app.app_context():
        assert listed.indexed_through(db.session.connection()) == through


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


def test_batches_at_once_write_each_row_once(app, panel):
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


def test_a_mark_set_back_by_hand_writes_only_what_is_missing(app, panel):
    made, doctor, patients = panel
    client = made.login(doctor.email)
    client.get("/clinic/")
    with app.app_context():
        listed.index_all(db.session)
        db.session.execute(update(AuditListIndex).values(indexed_through=0))
        db.session.commit()
    with app.app_context():
        assert [e.listed for e in patient_access_log(patients[2].id)] == [True]
        db.session.commit()
    assert _index_rows(app) == _expected(app)
    assert _verify(app)[0] == 0


def test_the_verifier_names_a_row_removed_or_added_by_hand(app, panel):
    made, doctor, patients = panel
    client = made.login(doctor.email)
    client.get("/clinic/")
    with app.app_context():
        listed.index_all(db.session)
    client.get("/clinic/?q=Robin1")  # a second list event, not indexed yet
    [(first, _), (second, _)] = _list_events(app)
    with app.app_context():
        with db.engine.begin() as conn:
            append_only.drop(conn)
        try:
            # An indexed event that lost a patient: caught.
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        "DELETE FROM audit_event_patients WHERE event_id = :e AND patient_id = :p"
                    ),
                    {"e": first, "p": patients[0].id},
                )
            code, output = _verify(app)
            assert code == 1
            assert f"audit row {first}: the patients it lists differ" in output
            with db.engine.begin() as conn:
                conn.execute(
                    AuditEventPatient.__table__.insert().values(
                        event_id=first, patient_id=patients[0].id
                    )
                )
            assert _verify(app)[0] == 0
            # An event past the mark given a patient it never showed: caught too.
            with db.engine.begin() as conn:
                conn.execute(
                    AuditEventPatient.__table__.insert().values(
                        event_id=second, patient_id=patients[2].id
                    )
                )
            code, output = _verify(app)
            assert code == 1
            assert f"audit row {second}: the patients it lists differ" in output
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
