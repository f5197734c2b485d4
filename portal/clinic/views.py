"""Clinician home."""

from __future__ import annotations

from collections.abc import Container

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from portal.clinic import inbox as inbox_service
from portal.clinic import services

bp = Blueprint("clinic", __name__, url_prefix="/clinic")


@bp.before_request
@login_required
def clinicians_only():
    if not current_user.is_clinician:
        abort(404)


@bp.get("/")
def panel():
    query = request.args.get("q", "").strip()[:100]
    sort = request.args.get("sort", "name")
    rows = services.panel(current_user, query, sort)
    awaiting = inbox_service.awaiting_patients(current_user)
    return render_template(
        "clinic/panel.html",
        rows=rows,
        query=query,
        sort=sort,
        awaiting=awaiting,
        inbox_count=sum(awaiting.values()),
    )


@bp.get("/inbox")
def inbox():
    """Oldest first, with how long each has waited; a reply from anyone clears it."""
    # A page that is not a number shows the first page: never a 500 for a hand-edited URL.
    page = inbox_service.inbox_page(current_user, request.args.get("page", 1, type=int))
    return render_template("clinic/inbox.html", page=page, rows=page.rows, inbox_count=page.total)


# Other features add clinic tabs (endpoint, label) here.
CLINIC_TABS: list[tuple[str, str]] = [
    ("clinic.panel", "My patients"),
    ("clinic.inbox", "Inbox"),
    ("enrolment.new_patient", "Enrol a patient"),
]


def row_flags(row: services.PanelRow, awaiting: Container[int]) -> list[tuple[str, str]]:
    """Flags shown on a panel row: (style, text); `awaiting`: patients with a goal waiting."""
    flags = []
    if not row.plan_agreed:
        flags.append(("attention", "Plan not yet agreed"))
    if row.patient_id in awaiting:
        flags.append(("attention", "Awaiting reply"))
    return flags


@bp.app_context_processor
def clinic_helpers():
    return {"clinic_tabs": lambda: CLINIC_TABS, "row_flags": row_flags}
