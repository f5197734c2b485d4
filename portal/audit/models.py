"""The audit trail: one append-only, sealed row per access, naming whose information it touched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.audit import head
from portal.audit.append_only import install as install_append_only
from portal.db import utcnow
from portal.extensions import db

_ID = BigInteger().with_variant(db.Integer, "sqlite")


class AuditEvent(db.Model):
    """Who (actor, as which relation) did what (action) to which object of whose record.

    A view of one patient's information names them in `patient_id`. A list
    view (panel, inbox, search) is ONE event naming every patient it showed in
    `patient_ids` (sorted, comma-separated: part of the row, so the seal covers
    the list) and, for each patient's access log, in `AuditListSpan`.

    Rows are never updated or deleted: `mac` seals each row and the one before
    it (portal/audit/chain.py). So `actor_id` and `patient_id` carry no foreign
    key: deleting an account or a record must not rewrite (SET NULL) a sealed row.
    """

    __tablename__ = "audit_events"

    # Given by the chain (the previous row's id + 1), not by a sequence.
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None]
    relation: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int | None]
    patient_ids: Mapped[str | None] = mapped_column(Text)  # list events only
    session_id: Mapped[int | None]  # the AuthSession the request came with
    client_addr: Mapped[str | None] = mapped_column(String(45))  # IPv6 at most
    path: Mapped[str | None] = mapped_column(String(300))  # refused attempts: method and path
    mac: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 over this row and the last mac


class AuditListSpan(db.Model):
    """Where the list events that showed a patient are: a span of the trail per batch.

    Filled after the fact, in batches (portal/audit/listed.py): the sealed event
    row with its `patient_ids` is the record, written with the view; this index
    is derived from it. A batch writes one span per patient it saw, from the
    first list event in the batch that showed them to the last, not one row per
    patient and event: an inbox shows the same fifty patients view after view,
    and fifty rows a view were a tenth of PostgreSQL's inbox throughput. A
    reader reads the events in a patient's spans and keeps those whose sealed
    `patient_ids` name the patient, so the index can only say where to look,
    never add an event to a log. The verifier checks that every patient of
    every indexed list event is covered, and that each span starts and ends at
    an event listing its patient.

    No foreign keys: a cascade would delete spans the verifier checks, and a
    key's check on PostgreSQL locks the event's row.
    """

    __tablename__ = "audit_list_spans"
    __table_args__ = {"sqlite_with_rowid": False}  # a few columns, read by key: one b-tree

    # Patient first: the only reader asks "where are the events that showed this patient".
    patient_id: Mapped[int] = mapped_column(primary_key=True)
    first_event: Mapped[int] = mapped_column(_ID, primary_key=True)
    last_event: Mapped[int] = mapped_column(_ID)


class AuditListIndex(db.Model):
    """How far the list events are indexed: one row, id 1 (portal/audit/listed.py).

    Events up to `indexed_through` are covered by `audit_list_spans`;
    later ones wait for the next batch, which every reader of the index runs first.
    """

    __tablename__ = "audit_list_index"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    indexed_through: Mapped[int] = mapped_column(_ID, default=0)


Index("ix_audit_events_patient_at", AuditEvent.patient_id, AuditEvent.at)
Index("ix_audit_events_actor_at", AuditEvent.actor_id, AuditEvent.at)
# The verifier walks the spans in trail order beside the events (portal/audit/chain.py).
Index("ix_audit_list_spans_first_event", AuditListSpan.first_event)

install_append_only(AuditEvent.metadata)  # once both audit tables exist
head.install(AuditEvent.__table__)
