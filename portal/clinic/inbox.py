"""The clinicians' inbox: goals across their panel waiting for a reply from the team."""

from __future__ import annotations

from flask import g, render_template
from flask_login import current_user

from portal.clinic.services import PanelRow
from portal.clinic.views import bp
from portal.goals import threads


@bp.get("/inbox")
def inbox():
    """Oldest first, with how long each has waited; a reply from anyone clears it."""
    rows = threads.inbox(current_user)
    return render_template("clinic/inbox.html", rows=rows)


def awaiting_reply_flag(row: PanelRow) -> list[tuple[str, str]]:
    """Panel flag: one query for the whole panel, then a set lookup per row."""
    if "awaiting_patients" not in g:
        g.awaiting_patients = threads.awaiting_patients(current_user.id)
    if row.patient_id in g.awaiting_patients:
        return [("attention", "Awaiting reply")]
    return []
