"""Audit trail: every read or write of a patient's information, in the same transaction."""

from __future__ import annotations

from portal.access import Access
from portal.audit.models import AuditEvent
from portal.extensions import db


def record(access: Access, action: str, object_type: str, object_id: int | None = None) -> None:
    """Add an audit row to the current transaction; it commits (or rolls back) with the change."""
    db.session.add(
        AuditEvent(
            actor_id=access.actor_id,
            relation=access.relation.value,
            patient_id=access.patient_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
        )
    )
