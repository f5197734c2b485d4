"""The access log's index of list events, filled in batches after the fact.

A list view (panel, inbox, search) writes ONE sealed audit event naming every
patient it showed in `patient_ids`, in the view's own transaction: that row is
the record. Each patient's access log ("saw you in her inbox") finds those
events through the derived index `audit_list_spans`: per batch, one span per
patient, from the first list event of the batch that showed them to the last.

Writing the index with the view cost more than the rest of its audit, so it is
written in batches, and as spans: a clinician's inbox shows the same fifty
patients view after view, so a batch writes fifty spans however many views it
covers, where a row per patient and event was fifty rows a view (PostgreSQL's
inbox answered 0.129 of the bare app with those rows written beside it, 0.142
without). A batch reads each distinct list of patients once, not every event's.

- the notification deliverer's loop (`flask notify deliver --loop`) runs a
  batch on every pass, and `flask audit index` runs them all (for cron);
- every reader of the index runs them all first (`catch_up`), in its own
  request's transaction, so an access log never misses a view.

A reader (`events_showing`) reads the events inside the patient's spans and
keeps those whose sealed `patient_ids` name the patient: a span says where to
look, never what an event showed. A span holds at most a batch of trail rows.

`indexed_through` (table `audit_list_index`) says how far the index goes. A
batch takes that row's lock first, so two batches at once (the loop and a
reader) never write the same spans twice: the second waits, then starts where
the first ended. The verifier (`chain.verify`) checks that every patient of
every event up to the mark is inside one of their spans, and that every span
starts and ends at an event listing its patient. Setting the mark back by hand
only makes the next batch cover the events again from the sealed rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Subquery,
    bindparam,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import transaction
from portal.audit.models import AuditEvent, AuditListIndex, AuditListSpan
from portal.db import insert_ignoring_duplicates

BATCH_EVENTS = 5000  # trail rows a batch passes: no span is longer

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
# A list of patient ids, split into rows (`p`), per database.
_SPLIT = {
    "sqlite": ("CAST(p.value AS INTEGER)", "json_each('[' || {ids} || ']') p"),
    "postgresql": ("CAST(p AS INTEGER)", "unnest(string_to_array({ids}, ',')) AS p"),
}
_BATCH = "e.id > :after AND e.id <= :upto AND e.patient_ids <> ''"
# One statement writes a batch's spans, in index order. Events with the same list (an
# inbox viewed again and again) are grouped first, so each distinct list is split once.
_SPANS = {
    dialect: "INSERT INTO audit_list_spans (patient_id, first_event, last_event)"  # noqa: S608
    f" SELECT {patient}, min(s.first_event), max(s.last_event)"
    " FROM (SELECT e.patient_ids, min(e.id) AS first_event, max(e.id) AS last_event"
    f" FROM audit_events e WHERE {_BATCH} GROUP BY e.patient_ids) s, "
    + rows.format(ids="s.patient_ids")
    + " GROUP BY 1 ORDER BY 1"
    for dialect, (patient, rows) in _SPLIT.items()
}
# Spans can be there already only when the mark was set back by hand. The batch then
# gives every event a span of its own, keeping those there: a span that starts where
# one already does may reach further than it, and the events past it must be covered.
# A reader may find an event in two spans; it reads each event once (`events_showing`).
_FILL_IN = {
    dialect: text(
        "INSERT INTO audit_list_spans (patient_id, first_event, last_event)"  # noqa: S608
        f" SELECT {patient}, e.id, e.id FROM audit_events e, "
        + rows.format(ids="e.patient_ids")
        + f" WHERE {_BATCH} ORDER BY 1, 2 ON CONFLICT DO NOTHING"
    )
    for dialect, (patient, rows) in _SPLIT.items()
}
_INSERT = {dialect: text(spans) for dialect, spans in _SPANS.items()}


def indexed_through(connection: Connection) -> int:
    """The last trail row the index covers (0 when nothing is indexed yet)."""
    return connection.execute(_THROUGH).scalar() or 0


def index_batch(connection: Connection) -> int:
    """Index the list events among the next `BATCH_EVENTS` trail rows; how many rows it passed.

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
    upto, passed = connection.execute(_UPTO, {"after": after, "limit": BATCH_EVENTS}).one()
    if not passed:
        return 0
    window = {"after": after, "upto": upto}
    try:
        with connection.begin_nested():
            connection.execute(_INSERT[dialect], window)
    except IntegrityError:
        connection.execute(_FILL_IN[dialect], window)
    connection.execute(update(_STATE).where(_ROW).values(indexed_through=upto))
    return passed


def catch_up(connection: Connection) -> int:
    """Index every list event still waiting, in the caller's transaction; trail rows passed.

    A reader of `audit_list_spans` calls this before reading it, so what it
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
    """The list events that showed the patient (`event_id`), each once.

    The only way in for readers: it runs `catch_up` first, in the request's
    transaction. The events are read inside the patient's spans and kept when
    their own sealed list names the patient.
    """
    catch_up(transaction.connection())
    span = AuditListSpan
    return (
        select(AuditEvent.id.label("event_id"))
        .distinct()
        .select_from(span)
        .join(AuditEvent, AuditEvent.id.between(span.first_event, span.last_event))
        .where(span.patient_id == patient_id, _lists(AuditEvent.patient_ids, patient_id))
        .subquery("showing")
    )


def _lists(patient_ids: Any, patient_id: int) -> ColumnElement[bool]:
    """SQL: the comma-separated list `patient_ids` names `patient_id`."""
    return (literal(",") + patient_ids + literal(",")).like(f"%,{int(patient_id)},%")


# -- verification (chain.verify walks the trail; the spans are walked beside it) --

MISSING = "a patient it lists is missing from the access log's index"
_SPAN = "a span of the access log's index starts or ends here"
NOT_LISTED = f"{_SPAN}, but this row does not list its patient"
NO_EVENT = f"{_SPAN}, but there is no such row"

_BEFORE_ALL = -(2**63)  # below any id: the first read takes spans made before row 1 too
_SPANS_FROM = (
    select(AuditListSpan.patient_id, AuditListSpan.first_event, AuditListSpan.last_event)
    .where(
        AuditListSpan.first_event > bindparam("after"),
        AuditListSpan.first_event <= bindparam("upto"),
    )
    .order_by(AuditListSpan.first_event)
)


class SpanWalk:
    """The spans, read in trail order beside the events: what `chain.verify` checks of them.

    Every patient of every list event up to `indexed` must be inside one of
    their spans (the reader would miss the event otherwise), and each span must
    start and end at an event listing its patient (so a span made by hand shows
    up). Only the spans reaching into rows not yet walked are held.
    """

    def __init__(self, connection: Connection, indexed: int) -> None:
        self.connection = connection
        self.indexed = indexed
        self.walked: int | None = None  # the last row walked; spans starting up to it are read
        self.open: dict[int, list[tuple[int, int]]] = {}  # patient: (first, last) not yet ended

    def check(self, rows: list) -> tuple[int, str] | None:
        """The first problem (row id, reason) among these rows, the next ones in trail order."""
        upto = rows[-1].id
        listing = {r.id: _ids(r.patient_ids) for r in rows}
        problems: list[tuple[int, str]] = []
        after = _BEFORE_ALL if self.walked is None else self.walked
        for patient, first, last in self.connection.execute(
            _SPANS_FROM, {"after": after, "upto": upto}
        ):
            self.open.setdefault(patient, []).append((first, last))
            problems += _end(first, patient, listing)
            if last < first:
                problems.append((first, NOT_LISTED))
        for row in rows:
            for patient in listing[row.id]:
                spans = self.open.get(patient, ())
                if row.id <= self.indexed and not any(a <= row.id <= b for a, b in spans):
                    problems.append((row.id, MISSING))
        for patient, spans in list(self.open.items()):
            for first, last in spans:
                if last <= upto and last != first:
                    problems += _end(last, patient, listing)
            kept = [(a, b) for a, b in spans if b > upto]
            if kept:
                self.open[patient] = kept
            else:
                del self.open[patient]
        self.walked = upto
        return min(problems, default=None)

    def left_over(self) -> tuple[int, str] | None:
        """After the last row: spans reaching past it, or starting after it, name no event."""
        ends = [b for spans in self.open.values() for _a, b in spans]
        after = _BEFORE_ALL if self.walked is None else self.walked
        later = self.connection.execute(
            select(func.min(AuditListSpan.first_event)).where(AuditListSpan.first_event > after)
        ).scalar()
        found = [*ends, *([later] if later is not None else [])]
        return (min(found), NO_EVENT) if found else None


def _ids(patient_ids: str | None) -> set[int]:
    return {int(p) for p in patient_ids.split(",")} if patient_ids else set()


def _end(row_id: int, patient: int, listing: dict[int, set[int]]) -> list[tuple[int, str]]:
    """A span's first or last event, `row_id`: it must be a walked row listing `patient`."""
    if row_id not in listing:
        return [(row_id, NO_EVENT)]
    return [] if patient in listing[row_id] else [(row_id, NOT_LISTED)]
