"""The patient's "who has seen my information" page and the administrators' audit report."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_login import current_user, login_required

from portal import audit
from portal.access import Access, AccessDenied, Relation, Scope, patient_view
from portal.audit.forms import HistoryFilter, ReportFilter
from portal.audit.history import access_history, people_in_history
from portal.audit.report import Filters, csv_lines, report_page
from portal.auth.models import UserKind
from portal.db import utcnow

bp = Blueprint("audit", __name__)


@bp.get("/p/<int:patient_id>/who-has-seen")
@patient_view(Scope.PLAN_READ)
def history(access: Access):
    """The patient sees everyone else's accesses; a caregiver, only their own."""
    if access.is_self:
        only = None
    elif access.relation is Relation.CAREGIVER:
        only = access.actor_id
    else:
        raise AccessDenied("access_log")
    form = HistoryFilter(request.args)
    form.person.choices = [(0, "Everyone"), *people_in_history(access.patient_id, only)]
    valid = form.validate() if request.args else True
    page = None
    if valid:
        since, until = form.period(access.patient_timezone)
        page = access_history(
            access.patient_id,
            actor_id=only or form.person.data or None,
            since=since,
            until=until,
            page=form.page.data or 1,
        )
    audit.record(access, "read", "access_log", access.patient_id)
    status = 200 if valid else 422
    return render_template("audit/history.html", access=access, form=form, page=page), status


def _admin() -> None:
    """Administrators only; anyone else is told nothing exists here."""
    if not current_user.is_authenticated:
        abort(401)
    if current_user.kind is not UserKind.ADMIN:
        abort(404)


def _report_filters() -> tuple[ReportFilter, Filters | None]:
    form = ReportFilter(request.args)
    if request.args and not form.validate():
        return form, None
    since, until = form.period(current_user.timezone)
    action = (form.action.data or "").strip() or None
    return form, Filters(form.patient.data, form.user.data, action, since, until)


@bp.get("/admin/audit")
@login_required
def report():
    """The trail for administrators: filter by patient, user, action and period."""
    _admin()
    form, filters = _report_filters()
    rows, more = [], None
    if filters is not None:
        before = request.args.get("before", type=int)
        rows, more = report_page(filters, before)
        audit.record_event(
            current_user.id, "read", "audit_report", relation="admin", **filters.as_event()
        )
    status = 200 if filters is not None else 422
    args = {k: v for k, v in request.args.items() if k != "before"}
    return render_template("audit/report.html", form=form, rows=rows, more=more, args=args), status


@bp.get("/admin/audit.csv")
@login_required
def export():
    """The same report as CSV, streamed in batches; the export is itself audited."""
    _admin()
    form, filters = _report_filters()
    if filters is None:
        return render_template("audit/report.html", form=form, rows=[], more=None, args={}), 422
    audit.record_event(
        current_user.id, "export", "audit_report", relation="admin", **filters.as_event()
    )
    name = f"audit-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(
        stream_with_context(csv_lines(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
