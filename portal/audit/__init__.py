"""Audit trail: every read or write of a patient's information, in the same transaction.

`record()` queues the row on the session; it is inserted just before the
session commits, in that same transaction, and discarded if it rolls back.
Writing at commit time keeps the database's write lock short (on SQLite a
read-only page would otherwise hold it from its first audit row to the end of
rendering), and a change and its audit row still stand or fall together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from portal.access import Access, Relation
from portal.audit.models import AuditEvent, AuditEventPatient
from portal.db import utcnow
from portal.extensions import db

_PENDING = "audit_pending"
_PENDING_LISTS = "audit_pending_lists"
_INSERT = insert(AuditEvent.__table__)
_INSERT_PATIENTS = insert(AuditEventPatient.__table__)


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
    """Queue several audit rows, each about one patient."""
    now = utcnow()
    _queue(_PENDING).extend({"at": now, **row} for row in rows)


def record_list(
    actor_id: int,
    object_type: str,
    patient_ids: Iterable[int],
    relation: Relation = Relation.CARE_TEAM,
) -> None:
    """Queue ONE audit event for a list view (panel, inbox, search) naming every patient shown.

    Written even when the list is empty: the view itself happened.
    """
    ids = sorted(set(patient_ids))
    row = {
        "at": utcnow(),
        "actor_id": actor_id,
        "relation": relation.value,
        "patient_id": None,
        "action": "list",
        "object_type": object_type,
        "object_id": None,
        "patient_ids": ",".join(map(str, ids)),
    }
    _queue(_PENDING_LISTS).append((row, ids))


def _queue(key: str) -> list:
    """The session's queue `key`, tied to a begun transaction so its rollback drops it."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # else a rollback before any query is a no-op: the rows would outlive it
    return session.info.setdefault(key, [])


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    lists = session.info.pop(_PENDING_LISTS, None)
    if rows:
        # One row (the usual page view) as a plain INSERT, not executemany.
        session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)
    for row, ids in lists or ():
        connection = session.connection()
        event_id = connection.execute(_INSERT, row).inserted_primary_key[0]
        if ids:
            connection.execute(
                _INSERT_PATIENTS, [{"event_id": event_id, "patient_id": i} for i in ids]
            )


def _drop(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_PENDING_LISTS, None)


event.listen(Session, "after_rollback", _drop)
event.listen(Session, "after_soft_rollback", _drop)
