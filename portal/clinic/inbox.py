"""The clinicians' inbox: goals across their panel waiting for a reply from the team."""

from __future__ import annotations

from flask import g
from flask_login import current_user

from portal import fragments
from portal.clinic.services import PanelRow
from portal.clinic.views import bp
from portal.db import utcnow
from portal.goals import threads
from portal.goals.text import waited


@bp.get("/inbox")
def inbox():
    """Oldest first, with how long each has waited; a reply from anyone clears it.

    The rows are read (and audited) on every request; the page is kept under
    exactly what it shows: the rows, how long each has waited, the clinician.
    """
    rows = tuple(threads.inbox(current_user))
    now = utcnow()
    waits = tuple(waited(row.waiting_since, now) for row in rows)
    key = ("inbox", current_user.id, rows, waits)
    return fragments.page(key, "clinic/inbox.html", rows=rows, waits=waits)


def awaiting_reply_flag(row: PanelRow) -> list[tuple[str, str]]:
    """Panel flag: one query for the whole panel, then a set lookup per row."""
    if "awaiting_patients" not in g:
        g.awaiting_patients = threads.awaiting_patients(current_user.id)
    if row.patient_id in g.awaiting_patients:
        return [("attention", "Awaiting reply")]
    return []
