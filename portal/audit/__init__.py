"""Audit trail: every read or write of a patient's information, in the same transaction.

`record()` queues the row on the session; it is inserted just before the
session commits, in that same transaction, and discarded if it rolls back.
Writing at commit time keeps the database's write lock short (on SQLite a
read-only page would otherwise hold it from its first audit row to the end of
rendering), and a change and its audit row still stand or fall together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from portal.access import Access
from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db

_PENDING = "audit_pending"
_INSERT = insert(AuditEvent)


def record(access: Access, action: str, object_type: str, object_id: int | None = None) -> None:
    """Add an audit row to the current transaction; it commits (or rolls back) with the change."""
    record_rows(
        [
            {
                "actor_id": access.actor_id,
                "relation": access.relation.value,
                "patient_id": access.patient_id,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
            }
        ]
    )


def record_rows(rows: list[dict[str, Any]]) -> None:
    """Queue several audit rows (e.g. one per patient listed on a panel)."""
    now = utcnow()
    pending = db.session.info.setdefault(_PENDING, [])
    pending.extend({"at": now, **row} for row in rows)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        # One row (the usual page view) as a plain INSERT, not executemany.
        session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_soft(session: Session, previous_transaction) -> None:
    session.info.pop(_PENDING, None)
