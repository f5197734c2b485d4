"""The administrators' audit report: the trail filtered, paged, and streamed as CSV.

The CSV is read in batches by id (keyset), never whole: a year of a clinic's
trail streams in constant memory, one query per batch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import aliased

from portal.audit.models import AuditEvent
from portal.auth.models import User
from portal.extensions import db
from portal.patients import Patient

BATCH = 1000
PER_PAGE = 50
_ACTOR = aliased(User)
HEADER = (
    "id",
    "at_utc",
    "actor_id",
    "actor",
    "relation",
    "patient_id",
    "patient",
    "action",
    "object_type",
    "object_id",
    "patients_listed",
    "session_id",
    "client_address",
    "path",
)


@dataclass(frozen=True)
class Filters:
    """What the report is about; None is 'any'."""

    patient_id: int | None = None
    user_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_event(self) -> dict[str, object]:
        """How exporting with these filters is itself recorded."""
        return {"patient_id": self.patient_id, "object_id": self.user_id}


def _events(filters: Filters) -> Select:
    """The ids of the rows matching `filters` (order and limit added by the caller)."""
    query = select(AuditEvent.id)
    if filters.patient_id is not None:
        query = query.where(AuditEvent.patient_id == filters.patient_id)
    if filters.user_id is not None:
        query = query.where(AuditEvent.actor_id == filters.user_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    return query


def _with_names(ids: Select) -> Select:
    """The rows of a page of ids, with who acted and whose record: names joined after the limit."""
    page = ids.subquery("page")
    return (
        select(AuditEvent, _ACTOR.name.label("actor_name"), Patient.given_name, Patient.family_name)
        .join(page, page.c.id == AuditEvent.id)
        .outerjoin(_ACTOR, _ACTOR.id == AuditEvent.actor_id)
        .outerjoin(Patient, Patient.id == AuditEvent.patient_id)
    )


@dataclass(frozen=True)
class ReportRow:
    event: AuditEvent
    actor_name: str | None
    patient_name: str | None


def report_page(filters: Filters, before: int | None = None) -> tuple[list[ReportRow], int | None]:
    """Newest first, PER_PAGE rows after row `before`; and the row to continue from.

    Ordered by time, then id: the (patient, at) and (actor, at) indexes give a
    page in order without reading everyone else's rows.
    """
    newest = (AuditEvent.at.desc(), AuditEvent.id.desc())
    ids = _events(filters).order_by(*newest).limit(PER_PAGE + 1)
    if before is not None:
        at = select(AuditEvent.at).where(AuditEvent.id == before).scalar_subquery()
        ids = ids.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(at, before))
    rows = [_row(r) for r in db.session.execute(_with_names(ids).order_by(*newest))]
    more = rows[PER_PAGE - 1].event.id if len(rows) > PER_PAGE else None
    return rows[:PER_PAGE], more


def _row(r) -> ReportRow:
    patient = f"{r.given_name} {r.family_name}" if r.given_name is not None else None
    return ReportRow(r.AuditEvent, r.actor_name, patient)


def batches(filters: Filters, size: int | None = None) -> Iterator[list[ReportRow]]:
    """The report oldest first, `size` (BATCH) rows per query."""
    size = size or BATCH
    after = 0
    while True:
        ids = _events(filters).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(size)
        query = _with_names(ids).order_by(AuditEvent.id)
        rows = [_row(r) for r in db.session.execute(query)]
        db.session.expunge_all()  # nothing of a batch stays in the identity map
        if not rows:
            return
        yield rows
        after = rows[-1].event.id


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a quote first."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_lines(filters: Filters, size: int | None = None) -> Iterator[str]:
    """The CSV, a header and then one chunk of text per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    yield buffer.getvalue()
    for rows in batches(filters, size):
        buffer.seek(0)
        buffer.truncate()
        for r in rows:
            e = r.event
            writer.writerow(
                safe_cell(v)
                for v in (
                    e.id, e.at, e.actor_id, r.actor_name, e.relation, e.patient_id,
                    r.patient_name, e.action, e.object_type, e.object_id, e.patient_ids,
                    e.session_id, e.client_addr, e.path,
                )
            )  # fmt: skip
        yield buffer.getvalue()
