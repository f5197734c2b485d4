"""A patient's access log: every audit event that touched them, newest first, in one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, false, select, true, union_all

from portal.audit.listed import events_showing
from portal.audit.models import AuditEvent
from portal.auth.models import User
from portal.extensions import db

# Where a list view showed the patient: "Dr. Riley Rivera saw you in their inbox".
LIST_PLACES = {
    "goal_inbox": "in their inbox",
    "panel": "on their list of patients",
    "panel_search": "in a search of their patients",
}
_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.actor_id,
    AuditEvent.relation,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
)


@dataclass(frozen=True)
class AccessLogEntry:
    """One access to a patient's information, as their access log shows it."""

    event_id: int
    at: datetime
    actor_name: str | None
    relation: str
    action: str
    object_type: str
    object_id: int | None
    listed: bool  # shown among other patients by a list view

    def summary(self) -> str:
        """'Dr. Riley Rivera saw you in their inbox' or 'Sam Morgan (caregiver): read goal'."""
        who = self.actor_name or "A former user"
        if self.listed:
            return f"{who} saw you {LIST_PLACES.get(self.object_type, 'in a list')}"
        words = (self.relation, self.action, self.object_type)
        relation, action, thing = (w.replace("_", " ") for w in words)
        return f"{who} ({relation}): {action} {thing}"


def _log_statement(patient_id: int, limit: int) -> Select:
    direct = select(*_COLUMNS, false().label("listed")).where(AuditEvent.patient_id == patient_id)
    showing = events_showing(patient_id)
    listed = (
        select(*_COLUMNS, true().label("listed"))
        .select_from(showing)
        .join(AuditEvent, AuditEvent.id == showing.c.event_id)
    )
    events = union_all(direct, listed).subquery("events")
    return (
        select(events, User.name)
        .outerjoin(User, User.id == events.c.actor_id)
        .order_by(events.c.at.desc(), events.c.id.desc())
        .limit(limit)
    )


def patient_access_log(patient_id: int, limit: int = 200) -> list[AccessLogEntry]:
    """Every event touching the patient (direct views and list views), newest first; one query."""
    rows = db.session.execute(_log_statement(patient_id, limit))
    return [
        AccessLogEntry(
            r.id, r.at, r.name, r.relation, r.action, r.object_type, r.object_id, bool(r.listed)
        )
        for r in rows
    ]
