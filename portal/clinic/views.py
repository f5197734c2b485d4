"""Clinician home."""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required
from markupsafe import Markup

from portal import audit, pagecache
from portal.clinic import inbox as inbox_service
from portal.clinic import services
from portal.goals.text import waited
from portal.pagecache import register_slot
from portal.when import user_locale

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
    """Oldest first, with how long each has waited; a reply from anyone clears it.

    Kept: the page's markup is rendered once per worker for what it shows
    (`inbox_service.shown`, one query of ids and versions), and only how long
    each goal has waited is written per view, from the time in its markup.
    """
    # A page that is not a number shows the first page: never a 500 for a hand-edited URL.
    shown = inbox_service.shown(current_user, request.args.get("page", 1, type=int))

    def load() -> tuple[inbox_service.Shown, dict]:
        found, page = inbox_service.read_page(current_user, shown.number)
        return found, {"page": page, "rows": inbox_lines(page.rows), "inbox_count": page.total}

    viewer = (current_user.id, str(current_user.kind))
    markup, served = pagecache.list_page(viewer, shown, "clinic/inbox.html", load=load)
    audit.record_list(current_user.id, "goal_inbox", served.patient_ids)
    return markup


class InboxLine(NamedTuple):
    """A row as the inbox template writes it: its kept cells, and since when it has waited."""

    cells: Markup
    since: str  # ISO 8601: <time datetime>, and the `waited` slot's value


def inbox_lines(rows: list[inbox_service.InboxRow]) -> list[InboxLine]:
    """The page's rows, ready to write: the template calls nothing per row.

    Each call from a template (a function, a method such as isoformat) goes
    through Jinja's Context.call, about 3 us; with two per row that was 6% of
    an inbox view (py-spy on a gunicorn worker under wrk).
    """
    cells = row_cells()
    return [InboxLine(cells(row), row.waiting_since.isoformat()) for row in rows]


def _waited(since: str, context: dict) -> str:
    """The `waited` slot: how long, in words, worked out on every view of a kept page.

    Fifty a view: the time is parsed once per worker, and the words need no
    escaping (a number and an English unit, made by `waited`).
    """
    return waited(_parsed(since), context["now"])


@lru_cache(maxsize=2048)  # about forty pages of rows; a time is 32 characters
def _parsed(since: str) -> datetime:
    return datetime.fromisoformat(since)


register_slot("waited", _waited)


def row_cells() -> Callable[[inbox_service.InboxRow], Markup]:
    """An inbox row's patient and goal cells, rendered once per worker for the same row.

    The cells are a function of the row alone (its patient, goal, preview, flags and
    preferences line, all read by this view's query) and of the reader's locale, so the
    row itself is the key: a changed entry, message, name or flag is a different row,
    and nothing can be served stale. What changes with the clock (how long it has
    waited) is written by the page on every view. Rendering the cells was most of the
    inbox's template time; a clinician's inbox mostly shows the rows it showed last time.
    """
    # The macro is part of the key: a template edited on disk (auto-reload, in
    # development) is a new template with a new macro, and renders afresh.
    cells = current_app.jinja_env.get_template("clinic/_inbox_row.html").module.cells
    locale = str(user_locale())
    return lambda row: _cells(cells, row, locale)


# Bounded: about ten pages of rows a worker; a row's message preview is cut to 160 characters
# when rendered, and its key holds at most the 2,000 the goal thread accepts.
@lru_cache(maxsize=512)
def _cells(
    cells: Callable[[inbox_service.InboxRow], Markup], row: inbox_service.InboxRow, locale: str
) -> Markup:
    return cells(row)


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
