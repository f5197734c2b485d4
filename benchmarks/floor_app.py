"""The portal plus three measuring routes: what the parts every request must have cost.

`benchmarks/run.py --floors` serves this instead of `wsgi:app` and loads these
routes next to the real entry POST and inbox, against the same bare app. They
answer "how fast could this page be on this stack?" by doing only what the
design requires of every request, and nothing a page does for its own sake:

- /floor/p/<id>/post: a signed-in patient's JSON POST: session check, CSRF,
  access resolution, JSON parsing. No write.
- /floor/p/<id>/post-audited: the same plus the one audit row every access to
  a patient's information writes, committed (the design's minimum for a POST).
- /floor/inbox-unaudited: the clinician's inbox, read and rendered afresh on
  every view (the real one is kept), without its audit event.
- /floor/inbox-read-audited: the kept inbox's database work alone, what its
  page shows (one read) and its audit event, answered with a count instead of
  the page (no markup, no slots filled).

Never served by the portal itself: `wsgi:app` does not have these routes.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user, login_required

from portal import audit, create_app
from portal.access import Access, Scope, patient_view
from portal.clinic import inbox as clinic_inbox
from portal.clinic.views import inbox_lines

floor = Blueprint("floor", __name__, url_prefix="/floor")


def json_body() -> dict:
    """The request's JSON object, parsed as the API does before checking it."""
    return request.get_json(silent=True) or {}


@floor.post("/p/<int:patient_id>/post")
@patient_view(Scope.GOALS_LOG)
def post(access: Access):
    return jsonify({"fields": len(json_body())})


@floor.post("/p/<int:patient_id>/post-audited")
@patient_view(Scope.GOALS_LOG)
def post_audited(access: Access):
    fields = len(json_body())
    audit.record(access, "create", "progress_entry")
    return jsonify({"fields": fields})


@floor.get("/inbox-unaudited")
@login_required
def inbox_unaudited():
    rows = clinic_inbox.inbox_rows(current_user)  # read and rendered afresh, never kept
    page = clinic_inbox.InboxPage(rows, 1, 1)
    return render_template("clinic/inbox.html", page=page, rows=inbox_lines(rows))


@floor.get("/inbox-read-audited")
@login_required
def inbox_read_audited():
    shown = clinic_inbox.shown(current_user)
    audit.record_list(current_user.id, "goal_inbox", shown.patient_ids)
    return jsonify({"goals": len(shown.goals)})


app = create_app()
app.register_blueprint(floor)
