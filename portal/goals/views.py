"""Goal pages: the patient's goals, one goal with its chart and thread, logging progress."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal import audit, pagecache
from portal.access import Access, AccessDenied, Scope, patient_view
from portal.auth.views import _safe_next
from portal.clinic import inbox
from portal.goals import confirm, entries, lifecycle, reading, threads
from portal.goals.forms import (
    DeclineForm,
    EntryEditForm,
    GoalForm,
    MessageForm,
    NewGoalForm,
    ReviewForm,
)
from portal.goals.inputs import Invalid
from portal.goals.measures import measure_for
from portal.goals.text import linkify, waited
from portal.when import format_date

bp = Blueprint("goals", __name__, url_prefix="/p/<int:patient_id>/goals")


def _goal_page(access: Access, goal_id: int):
    return redirect(url_for("goals.detail", patient_id=access.patient_id, goal_id=goal_id), 303)


def _back(access: Access, goal_id: int, anchor: str | None = None):
    """303 to the same-site page the form came from, else the goal page (at `anchor`)."""
    target = _safe_next(request.form.get("next"))
    if target:
        return redirect(target.partition("#")[0] + (f"#{anchor}" if anchor else ""), 303)
    return redirect(
        url_for("goals.detail", patient_id=access.patient_id, goal_id=goal_id, _anchor=anchor), 303
    )


@bp.get("")
@patient_view(Scope.GOALS_READ)
def index(access: Access):
    goals = reading.list_goals(access)
    return render_template("goals/index.html", access=access, goals=goals)


@bp.route("/new", methods=["GET", "POST"])
@patient_view(Scope.GOALS_READ)
def new(access: Access):
    if not (access.can(Scope.GOALS_WRITE) or access.can(Scope.GOALS_PROPOSE)):
        raise AccessDenied(Scope.GOALS_WRITE)
    form = NewGoalForm() if access.can(Scope.GOALS_WRITE) else GoalForm()
    if request.method == "POST":
        try:
            goal = lifecycle.create_goal(access, form.data_for_service())
        except Invalid as error:
            form.show(error)
        else:
            if goal.status.value == "proposed":
                flash(f"Suggested “{goal.title}”. {access.patient_name} can now answer.", "success")
            else:
                flash(f"Added your goal “{goal.title}”.", "success")
            return _goal_page(access, goal.id)
    status = 422 if request.method == "POST" else 200
    if status == 200:
        audit.record(access, "open_form", "goal")  # the form shows whose record this is
    return render_template("goals/goal_form.html", access=access, form=form, goal=None), status


@bp.get("/<int:goal_id>")
@patient_view(Scope.GOALS_READ)
def detail(access: Access, goal_id: int):
    """The goal page, kept per version of the patient's data, the patient's day and viewer.

    One query reads the versions, the goal's newest message and this reader's
    read marker. Reading is audited, and the thread marked read, kept or not;
    the unread marks show what was new before this view.
    """
    state = reading.goal_state(access, goal_id)
    reading.saw_goal(access, state)
    today = reading.patient_today(access)
    return pagecache.page(
        access,
        state.versions,
        "goals/detail.html",
        inputs={"goal": goal_id, "day": today},
        load=lambda: _detail_context(
            access, reading.load_goal_page(access, goal_id, mark_read=False, record=False)
        ),
        per_request={"last_read": state.last_read},
    )


def _detail_context(
    access: Access,
    page: reading.GoalPage,
    *,
    entry_errors=None,
    entry_values=None,
    message_form=None,
    review_form=None,
) -> dict:
    if review_form is None and access.can(Scope.GOALS_REVIEW):
        review_form = ReviewForm(formdata=None)
        review_form.status.data = page.goal.status.value
        review_form.achievement.data = page.goal.achievement.value
        review_form.note.data = page.goal.note
    return {
        "access": access,
        "page": page,
        "goal": page.goal,
        "entry_errors": entry_errors or {},
        "entry_values": entry_values or {},
        "message_form": message_form or MessageForm(formdata=None),
        "review_form": review_form,
    }


def _render_detail(
    access: Access,
    goal_id: int,
    *,
    entry_errors=None,
    entry_values=None,
    message_form=None,
    review_form=None,
    status: int = 200,
):
    """The goal page again with a form's errors (never kept: it shows what was sent)."""
    page = reading.load_goal_page(access, goal_id)
    context = _detail_context(
        access,
        page,
        entry_errors=entry_errors,
        entry_values=entry_values,
        message_form=message_form,
        review_form=review_form,
    )
    page_html = pagecache.render(
        access, "goals/detail.html", per_request={"last_read": page.last_read}, **context
    )
    return page_html, status


@bp.route("/<int:goal_id>/edit", methods=["GET", "POST"])
@patient_view(Scope.GOALS_WRITE)
def edit(access: Access, goal_id: int):
    goal = reading.get_goal(access, goal_id)
    form = GoalForm()
    if request.method == "POST":
        try:
            lifecycle.update_goal(access, goal_id, form.data_for_service())
        except Invalid as error:
            form.show(error)
        except lifecycle.GoalError as error:
            flash(str(error), "error")
            return _goal_page(access, goal_id)
        else:
            flash("Saved your changes.", "success")
            return _goal_page(access, goal_id)
    else:
        form.load(goal)
        audit.record(access, "read", "goal", goal.id)
    status = 422 if request.method == "POST" else 200
    return render_template("goals/goal_form.html", access=access, form=form, goal=goal), status


@bp.route("/<int:goal_id>/answer", methods=["GET", "POST"])
@patient_view(Scope.GOALS_WRITE)
def answer(access: Access, goal_id: int):
    """A suggested goal: take it on as it is or in one's own words, or say no."""
    goal = reading.get_goal(access, goal_id)
    form = GoalForm()
    if goal.status.value != "proposed":
        return _goal_page(access, goal_id)
    if request.method == "POST":
        try:
            lifecycle.answer_proposal(access, goal_id, True, form.data_for_service())
        except Invalid as error:
            form.show(error)
        else:
            flash(f"“{form.title.data.strip()}” is now one of your goals.", "success")
            return _goal_page(access, goal_id)
    else:
        form.load(goal)
        audit.record(access, "read", "goal", goal.id)
    status = 422 if request.method == "POST" else 200
    people = reading.names({goal.proposed_by_id})
    return (
        render_template(
            "goals/answer.html",
            access=access,
            form=form,
            goal=goal,
            decline=DeclineForm(formdata=None),
            proposer=people.get(goal.proposed_by_id, "Your care team"),
        ),
        status,
    )


@bp.post("/<int:goal_id>/decline")
@patient_view(Scope.GOALS_WRITE)
def decline(access: Access, goal_id: int):
    try:
        lifecycle.answer_proposal(access, goal_id, False, {"reason": request.form.get("reason")})
    except lifecycle.GoalError as error:
        flash(str(error), "error")
    else:
        flash("You said no to this goal. Your care team can see your answer.", "success")
    return redirect(url_for("goals.index", patient_id=access.patient_id), 303)


@bp.post("/<int:goal_id>/share")
@patient_view(Scope.GOALS_WRITE)
def share(access: Access, goal_id: int):
    try:
        lifecycle.share_goal(access, goal_id)
    except lifecycle.GoalError as error:
        flash(str(error), "error")
    else:
        flash("Your care team can now see you would like their thoughts.", "success")
    return _goal_page(access, goal_id)


@bp.post("/<int:goal_id>/review")
@patient_view(Scope.GOALS_REVIEW)
def review(access: Access, goal_id: int):
    form = ReviewForm()
    try:
        lifecycle.review_goal(access, goal_id, form.data_for_service())
    except Invalid as error:
        form.show(error)
        return _render_detail(access, goal_id, review_form=form, status=422)
    except lifecycle.GoalError as error:
        flash(str(error), "error")
    else:
        flash("Saved your review.", "success")
    return _goal_page(access, goal_id)


@bp.post("/<int:goal_id>/entries")
@patient_view(Scope.GOALS_LOG)
def add_entry(access: Access, goal_id: int):
    data = request.form.to_dict()
    try:
        entry, created = entries.add_entry(access, goal_id, data, data.get("idempotency_key"))
    except Invalid as error:
        return _render_detail(
            access, goal_id, entry_errors=error.fields, entry_values=data, status=422
        )
    except lifecycle.GoalError as error:
        flash(str(error), "error")
        return _back(access, goal_id)
    confirm.saved_entry(goal_id, entry.entry_date, again=not created)
    return _back(access, goal_id, confirm.spot(goal_id))


@bp.route("/<int:goal_id>/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@patient_view(Scope.GOALS_LOG)
def edit_entry(access: Access, goal_id: int, entry_id: int):
    try:
        goal, entry = entries.changeable_entry(access, goal_id, entry_id)
    except lifecycle.GoalError as error:
        flash(str(error), "error")
        return _goal_page(access, goal_id)
    form = EntryEditForm()
    if request.method == "POST":
        try:
            changed = entries.change_entry(access, goal_id, entry_id, form.data_for_service())
        except Invalid as error:
            form.show(error)
        except lifecycle.GoalError as error:
            flash(str(error), "error")
            return _goal_page(access, goal_id)
        else:
            confirm.saved_entry(goal_id, changed.entry_date)
            return _back(access, goal_id, confirm.spot(goal_id))
    else:
        form.value.data = "" if entry.value is None else f"{entry.value.normalize():f}"
        form.done.data = None if entry.done is None else ("1" if entry.done else "0")
        form.note.data = entry.note
        form.feeling.data = str(entry.feeling) if entry.feeling else None
        form.entry_date.data = entry.entry_date.isoformat()
        audit.record(access, "read", "progress_entry", entry.id)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "goals/entry_form.html",
            access=access,
            goal=goal,
            entry=entry,
            form=form,
            measure=measure_for(goal.measure),
        ),
        status,
    )


@bp.post("/<int:goal_id>/entries/<int:entry_id>/delete")
@patient_view(Scope.GOALS_LOG)
def delete_entry(access: Access, goal_id: int, entry_id: int):
    try:
        deleted = entries.delete_entry(access, goal_id, entry_id)
    except lifecycle.GoalError as error:
        flash(str(error), "error")
    else:
        flash(f"Deleted your entry for {format_date(deleted.entry_date)}.", "success")
    return _goal_page(access, goal_id)


@bp.post("/<int:goal_id>/messages")
@patient_view(Scope.MESSAGES)
def post_message(access: Access, goal_id: int):
    form = MessageForm()
    try:
        threads.post_message(access, goal_id, form.body.data)
    except Invalid as error:
        form.show(error)
        return _render_detail(access, goal_id, message_form=form, status=422)
    if access.is_care_team and request.form.get("then") == "next":
        return _next_waiting(access)
    confirm.sent_message(goal_id, to_team=not access.is_care_team)
    return redirect(
        url_for(
            "goals.detail",
            patient_id=access.patient_id,
            goal_id=goal_id,
            _anchor=confirm.sent_spot(goal_id),
        ),
        303,
    )


def _next_waiting(access: Access):
    """Reply and next: straight to the oldest goal still waiting in this clinician's inbox."""
    waiting = inbox.next_waiting(current_user)
    if waiting is None:
        flash("Sent. Nothing else is waiting for a reply.", "success")
        return redirect(url_for("clinic.inbox"), 303)
    confirm.sent_message(waiting.goal_id, to_team=False, moved_on=True)
    return redirect(
        url_for(
            "goals.detail", patient_id=waiting.patient_id, goal_id=waiting.goal_id, _anchor="latest"
        ),
        303,
    )


# -- template helpers ----------------------------------------------------------


def goal_url(access: Access, goal) -> str:
    """The goal page of `goal` (plan pages link goal titles here)."""
    if not access.can(Scope.GOALS_READ):
        return ""
    return reading.goal_path(access.patient_id, goal.id)


def goals_home(access: Access):
    """The home screen's goal parts, loaded once per request (two blocks use them)."""
    if not access.can(Scope.GOALS_READ):
        return None
    if "goals_home" not in g:
        g.goals_home = reading.home(access)
    return g.goals_home


def new_key() -> Markup:
    """A fresh idempotency key for each entry form (a slot); the web app's JS renews it per send."""
    return pagecache.slot("key")


def _unread(value: str, context: dict) -> bool:
    message_id, author_id = (int(part) for part in value.split())
    return message_id > context.get("last_read", 0) and author_id != context["actor_id"]


def _changeable(value: str, context: dict) -> bool:
    return context["now"] - datetime.fromisoformat(value) < reading.EDIT_WINDOW


# What a goal page shows per reader and per moment: worked out for every response.
pagecache.register_slot("unread_class", lambda v, c: " message--unread" if _unread(v, c) else "")
pagecache.register_slot(
    "unread_tag", lambda v, c: '<span class="tag tag--new">New</span>' if _unread(v, c) else ""
)
pagecache.register_condition("changeable", _changeable)


@bp.record_once
def _install_helpers(state) -> None:
    state.app.jinja_env.globals.update(
        goal_url=goal_url,
        goal_path=reading.goal_path,
        goals_home=goals_home,
        new_key=new_key,
        saved_note=confirm.saved_note,
        sent_note=confirm.sent_note,
        measure_for=measure_for,
        timedelta_days=lambda days: timedelta(days=days),
    )
    state.app.jinja_env.filters.update(linkify=linkify, waited=waited)
