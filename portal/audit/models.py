"""The audit trail: one append-only row per access, naming whose information it touched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import utcnow
from portal.extensions import db

_ID = BigInteger().with_variant(db.Integer, "sqlite")


class AuditEvent(db.Model):
    """Who (actor, as which relation) did what (action) to which object of whose record.

    A view of one patient's information names them in `patient_id`. A list
    view (panel, inbox, search) is ONE event naming every patient it showed in
    `patient_ids` (sorted, comma-separated: part of the row, so a chain over
    rows covers the list) and, for each patient's access log, in
    `AuditEventPatient`.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    relation: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int | None]
    patient_ids: Mapped[str | None] = mapped_column(Text)  # list events only


class AuditEventPatient(db.Model):
    """A patient shown by a list event: the patient's access log finds the event here."""

    __tablename__ = "audit_event_patients"
    __table_args__ = {"sqlite_with_rowid": False}  # the key is the whole row: one b-tree

    # Patient first: the only reader asks "which events showed this patient".
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        _ID, ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True
    )


Index("ix_audit_events_patient_at", AuditEvent.patient_id, AuditEvent.at)
Index("ix_audit_events_actor_at", AuditEvent.actor_id, AuditEvent.at)
