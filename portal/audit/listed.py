"""The access log's index of list events, filled in batches after the fact.

A list view (panel, inbox, search) writes ONE sealed audit event naming every
patient it showed in `patient_ids`, in the view's own transaction: that row is
the record. Each patient's access log ("saw you in her inbox") reads the
derived index `audit_event_patients`, one row per (patient, event).

Writing those rows with the view cost more than the rest of its audit: fifty
rows land on fifty different pages of the by-patient b-tree, so one inbox view
wrote 62 pages (250 KiB) to SQLite's WAL against 3 to 4 for a plan page, and
forced a checkpoint (two fsyncs) every 16 views. Here they are written in
batches, sorted by patient, so a page of the index is written once per batch:

- the notification deliverer's loop (`flask notify deliver --loop`) runs a
  batch on every pass, and `flask audit index` runs them all (for cron);
- every reader of the index runs them all first (`catch_up`), in its own
  request's transaction, so an access log never misses a view.

`indexed_through` (table `audit_list_index`) says how far the index goes. A
batch takes that row's lock first, so two batches at once (the loop and a
reader) never write the same rows twice: the second waits, then starts where
the first ended. The verifier (`chain.verify`) checks that every event up to
it has exactly its rows, and a later one none of them or exactly them. Setting
the mark back by hand only makes the next batch write the missing rows again
from the sealed events.
"""

from __future__ import annotations

from sqlalchemy import Connection, Subquery, bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import transaction
from portal.audit.models import AuditEvent, AuditEventPatient, AuditListIndex
from portal.db import insert_ignoring_duplicates

BATCH_EVENTS = 5000  # trail rows a batch passes; at 50 patients a list event, at most 250,000 rows

_STATE = AuditListIndex.__table__
_ROW = _STATE.c.id == 1
_THROUGH = select(_STATE.c.indexed_through).where(_ROW)
_TOUCH = update(_STATE).where(_ROW).values(indexed_through=_STATE.c.indexed_through)
_AFTER = bindparam("after")
_ANY = select(AuditEvent.id).where(AuditEvent.id > _AFTER).limit(1)
# The last of the next `limit` trail rows, list events or not: the mark passes them all.
_NEXT = (
    select(AuditEvent.id)
    .where(AuditEvent.id > _AFTER)
    .order_by(AuditEvent.id)
    .limit(bindparam("limit"))
    .subquery()
)
_UPTO = select(func.max(_NEXT.c.id), func.count())
# One statement writes a batch's rows, in index order, from the events' own lists.
_EACH = {
    "sqlite": "SELECT CAST(p.value AS INTEGER), e.id"
    " FROM audit_events e, json_each('[' || e.patient_ids || ']') p",
    "postgresql": "SELECT CAST(p AS INTEGER), e.id"
    " FROM audit_events e, unnest(string_to_array(e.patient_ids, ',')) AS p",
}
_FAN_OUT = {
    dialect: f"INSERT INTO audit_event_patients (patient_id, event_id) {each}"
    " WHERE e.id > :after AND e.id <= :upto AND e.patient_ids <> '' ORDER BY 1, 2"
    for dialect, each in _EACH.items()
}
# Rows can be there already only when the mark was set back by hand: the batch then
# writes again, leaving those rows as they are. Not the first try: on PostgreSQL
# `ON CONFLICT` costs every row a speculative insertion (4.5 us a row against 2.9).
_FILL_IN = {
    dialect: text(f"{fan_out} ON CONFLICT DO NOTHING") for dialect, fan_out in _FAN_OUT.items()
}
_INSERT = {dialect: text(fan_out) for dialect, fan_out in _FAN_OUT.items()}


def indexed_through(connection: Connection) -> int:
    """The last trail row the index covers (0 when nothing is indexed yet)."""
    return connection.execute(_THROUGH).scalar() or 0


def index_batch(connection: Connection, limit: int = 0) -> int:
    """Index the list events among the next `limit` trail rows; how many rows it passed.

    Runs in the caller's transaction, which must commit for the rows to count.
    With nothing new it only reads (two statements) and takes no lock.
    """
    if connection.execute(_ANY, {"after": indexed_through(connection)}).first() is None:
        return 0
    dialect = connection.dialect.name
    # The state row, then its lock (PostgreSQL: the row's; SQLite: the write lock);
    # the mark is read again under it, as a batch that ran meanwhile left it.
    start = insert_ignoring_duplicates(_STATE, dialect).values(id=1, indexed_through=0)
    connection.execute(start.on_conflict_do_nothing())
    connection.execute(_TOUCH)
    after = indexed_through(connection)
    upto, passed = connection.execute(_UPTO, {"after": after, "limit": limit or BATCH_EVENTS}).one()
    if not passed:
        return 0
    span = {"after": after, "upto": upto}
    try:
        with connection.begin_nested():
            connection.execute(_INSERT[dialect], span)
    except IntegrityError:
        connection.execute(_FILL_IN[dialect], span)
    connection.execute(update(_STATE).where(_ROW).values(indexed_through=upto))
    return passed


def catch_up(connection: Connection) -> int:
    """Index every list event still waiting, in the caller's transaction; trail rows passed.

    A reader of `audit_event_patients` calls this before reading it, so what it
    reads includes every list view committed before it. Readers are rare pages
    (a patient's access log); when there was something to index, the lock they
    take on the state row is held until their request commits, and a
    concurrent batch waits that long.
    """
    total = 0
    while (done := index_batch(connection)) >= BATCH_EVENTS:
        total += done
    return total + done


def index_all(session: Session) -> int:
    """Index every list event still waiting, a committed transaction per batch; rows passed."""
    total = 0
    while True:
        done = index_batch(session.connection())
        session.commit()
        total += done
        if done < BATCH_EVENTS:
            return total


def events_showing(patient_id: int) -> Subquery:
    """The list events that showed the patient (`event_id`), read from the index.

    The only way in for readers: it runs `catch_up` first, in the request's transaction.
    """
    catch_up(transaction.connection())
    return (
        select(AuditEventPatient.event_id)
        .where(AuditEventPatient.patient_id == patient_id)
        .subquery("showing")
    )
