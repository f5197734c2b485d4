"""Decision pages: the list, opening one, one decision (compare, lean, SURE, thread, record),
and the team's CollaboRATE report."""

from __future__ import annotations

from typing import Any

import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal import audit
from portal.access import Access, Scope, patient_view
from portal.clinic.views import CLINIC_TABS
from portal.decisions import api as _api  # noqa: F401  (adds the /api/v1 decision routes)
from portal.decisions import forms, inputs, outcome, reading, services
from portal.decisions import report as reports
from portal.decisions.inputs import Invalid
from portal.decisions.reminders import enqueue_decide_by_reminders
from portal.decisions.services import DecisionError
from portal.extensions import db
from portal.web import PATIENT_TABS

bp = Blueprint("decisions", __name__)
BASE = "/p/<int:patient_id>/decisions"
ONE = BASE + "/<int:decision_id>"

PATIENT_TABS.append(("decisions.index", "Decisions", Scope.DECISIONS_READ))
CLINIC_TABS.append(("decisions.report", "Decisions report"))


@bp.get(BASE)
@patient_view(Scope.DECISIONS_READ)
def index(access: Access):
    rows = reading.list_decisions(access)
    return render_template("decisions/index.html", access=access, rows=rows)


@bp.route(BASE + "/new", methods=["GET", "POST"])
@patient_view(Scope.PLAN_EDIT)
def new(access: Access):
    """Open a decision: a question, a date, and up to four options in fixed slots (no JS)."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"options": [{} for _ in range(inputs.FORM_SLOTS)]}
    if request.method == "POST":
        data = forms.decision_data(request.form)
        try:
            decision = services.open_decision(access, data)
        except Invalid as error:
            errors = error.fields
        else:
            flash(f"Opened the decision. {access.patient_name} has been told.", "success")
            return redirect(_detail_url(access, decision.id), 303)
    else:
        audit.record(access, "open_form", "decision")
    return (
        render_template("decisions/new.html", access=access, data=data, errors=errors, forms=forms),
        422 if errors else 200,
    )


def _detail_url(access: Access, decision_id: int, anchor: str | None = None) -> str:
    return url_for(
        "decisions.detail",
        patient_id=access.patient_id,
        decision_id=decision_id,
        _anchor=anchor,
    )


def _render_detail(access: Access, decision_id: int, status: int = 200, **state: Any):
    page = reading.load_page(access, decision_id)
    state.setdefault("errors", {})
    state.setdefault("values", {})
    return (
        render_template("decisions/detail.html", access=access, page=page, forms=forms, **state),
        status,
    )


@bp.get(ONE)
@patient_view(Scope.DECISIONS_READ)
def detail(access: Access, decision_id: int):
    return _render_detail(access, decision_id)


def _act(access: Access, decision_id: int, form: str, action, done: str, anchor: str):
    """Run one change; on bad input show the page again with the form's errors (422)."""
    try:
        action()
    except Invalid as error:
        return _render_detail(
            access, decision_id, 422, form=form, errors=error.fields, values=request.form
        )
    except DecisionError as error:
        return _render_detail(
            access, decision_id, 422, form=form, errors={"form": str(error)}, values=request.form
        )
    flash(done, "success")
    return redirect(_detail_url(access, decision_id, anchor), 303)


@bp.post(ONE + "/lean")
@patient_view(Scope.DECISIONS_WRITE)
def lean(access: Access, decision_id: int):
    return _act(
        access,
        decision_id,
        "lean",
        lambda: services.record_lean(access, decision_id, request.form),
        "Saved which way you lean. Your care team can see it.",
        "lean",
    )


@bp.post(ONE + "/sure")
@patient_view(Scope.DECISIONS_WRITE)
def sure(access: Access, decision_id: int):
    return _act(
        access,
        decision_id,
        "sure",
        lambda: services.answer_sure(access, decision_id, request.form),
        "Saved your answers. Your care team can see them.",
        "sure",
    )


@bp.post(ONE + "/messages")
@patient_view(Scope.DECISIONS_READ)
def post_message(access: Access, decision_id: int):
    sent = "Sent. " + (
        "The patient will be told." if access.is_care_team else "Your care team will see it."
    )
    return _act(
        access,
        decision_id,
        "thread",
        lambda: services.post_message(access, decision_id, request.form.get("body")),
        sent,
        "thread",
    )


@bp.post(ONE + "/decide")
@patient_view(Scope.PLAN_EDIT)
def decide(access: Access, decision_id: int):
    return _act(
        access,
        decision_id,
        "decide",
        lambda: outcome.record_outcome(access, decision_id, forms.outcome_data(request.form)),
        "Recorded the decision. It is in the plan's history.",
        "outcome",
    )


@bp.post(ONE + "/withdraw")
@patient_view(Scope.PLAN_EDIT)
def withdraw(access: Access, decision_id: int):
    return _act(
        access,
        decision_id,
        "withdraw",
        lambda: outcome.withdraw(access, decision_id),
        "Withdrew the decision. It stays in the list, marked withdrawn.",
        "",
    )


@bp.post(ONE + "/collaborate")
@patient_view(Scope.DECISIONS_WRITE)
def collaborate(access: Access, decision_id: int):
    return _act(
        access,
        decision_id,
        "collaborate",
        lambda: services.answer_collaborate(access, decision_id, request.form),
        "Thank you. Your answers help your care team work with you.",
        "collaborate",
    )


@bp.get("/clinic/decisions/report")
@login_required
def report():
    """The CollaboRATE report for the patients on the clinician's care teams."""
    if not current_user.is_clinician:
        abort(404)
    result = reports.collaborate_report(current_user._get_current_object())
    return render_template(
        "decisions/report.html", report=result, min_shown=reports.MIN_ANSWERS_SHOWN
    )


@bp.cli.command("remind")
def remind() -> None:
    """Queue reminders for open decisions whose date to decide by is near (also run by
    `flask notify deliver`)."""
    count = enqueue_decide_by_reminders()
    db.session.commit()
    click.echo(f"{count} decide-by reminders enqueued.")


@bp.record_once
def _install_helpers(state) -> None:
    state.app.jinja_env.globals.update(plan_decisions=reading.plan_decisions)
