"""Clinician home."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

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
    return render_template("clinic/panel.html", rows=rows, query=query, sort=sort)


# Other features add clinic tabs (endpoint, label) and panel flags here.
CLINIC_TABS: list[tuple[str, str]] = [("clinic.panel", "My patients"), ("clinic.inbox", "Inbox")]
PANEL_FLAGS: list = []


def row_flags(row: services.PanelRow) -> list[tuple[str, str]]:
    """Flags shown on a panel row: (style, text)."""
    flags = []
    if not row.plan_agreed:
        flags.append(("attention", "Plan not yet agreed"))
    for flag in PANEL_FLAGS:
        flags.extend(flag(row))
    return flags


@bp.app_context_processor
def clinic_helpers():
    return {"clinic_tabs": lambda: CLINIC_TABS, "row_flags": row_flags}


from portal.clinic import inbox as _inbox  # noqa: E402  (adds /clinic/inbox to this blueprint)

PANEL_FLAGS.append(_inbox.awaiting_reply_flag)
