"""The shared care plan: patient home, plan, history, and the clinician's edits."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for

from portal import audit, pagecache
from portal.access import Access, Scope, patient_view
from portal.auth.models import Discipline
from portal.caregivers import guardians
from portal.caregivers.models import GrantKind
from portal.caregivers.reading import (
    ended_by_clinic,
    helped_by,
    helpers_of,
    waiting_invitations,
)
from portal.careplan import reading, services
from portal.careplan.forms import FORMS, TeamMemberForm
from portal.careplan.services import PlanError
from portal.when import format_date, user_zone

bp = Blueprint("careplan", __name__, url_prefix="/p/<int:patient_id>")


@bp.get("/")
@patient_view(Scope.PLAN_READ)
def home(access: Access):
    """The patient's home: today, what the team said, what's next."""
    if access.is_care_team:
        return redirect(url_for("careplan.plan", patient_id=access.patient_id))
    plan = reading.load_plan(access, reading.plan_state(access), whole=False)
    reading.record_read(access)
    # A patient who also helps others sees whom, with a way to switch (portal/caregivers).
    helped = helped_by(access.actor_id) if access.is_self else []
    return render_template("careplan/home.html", access=access, plan=plan, helped=helped)


@bp.get("/plan")
@patient_view(Scope.PLAN_READ)
def plan(access: Access):
    """The plan, kept per version of the patient's data, viewer and what they have seen."""
    state = reading.plan_state(access)
    reading.record_read(access)
    return pagecache.page(
        access,
        state.versions,
        "careplan/plan.html",
        inputs={"seen": state.seen_version},
        load=lambda: {
            "access": access,
            "plan": reading.load_plan(access, state),
            "state": state,
        },
    )


@bp.get("/plan/history")
@patient_view(Scope.PLAN_READ)
def history(access: Access):
    revisions = reading.history(access)
    return render_template("careplan/history.html", access=access, revisions=revisions)


@bp.post("/plan/seen")
@patient_view(Scope.PLAN_READ)
def seen(access: Access):
    services.mark_seen(access)
    return redirect(url_for("careplan.plan", patient_id=access.patient_id))


@bp.post("/plan/agree")
@patient_view(Scope.PLAN_AGREE)
def agree(access: Access):
    services.agree(access)
    flash("Thank you. Your care team can see that you agree with this plan.", "success")
    return redirect(url_for("careplan.plan", patient_id=access.patient_id))


def _item_form(access: Access, kind: str, item=None):
    form = FORMS[kind](obj=item)
    if kind == "activity":
        form.set_team(reading.load_team(access.patient_id))
        if item is not None and not form.is_submitted():
            form.load(item)
    return form


def _render_item_form(access: Access, kind: str, form, item=None, status: int = 200):
    return (
        render_template(
            "careplan/item_form.html",
            access=access,
            kind=services.item_kind(kind),
            form=form,
            item=item,
        ),
        status,
    )


@bp.route("/plan/<kind>/new", methods=["GET", "POST"])
@patient_view(Scope.PLAN_EDIT)
def new_item(access: Access, kind: str):
    services.item_kind(kind)
    form = _item_form(access, kind)
    if not form.is_submitted():
        audit.record(access, "open_form", kind)  # the form shows whose plan and team this is
    if form.validate_on_submit():
        try:
            item = services.add_item(access, kind, form.values())
        except PlanError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"Added “{item.title}” to the plan.", "success")
            return redirect(url_for("careplan.plan", patient_id=access.patient_id))
    return _render_item_form(access, kind, form, status=422 if form.is_submitted() else 200)


@bp.route("/plan/<kind>/<int:item_id>/edit", methods=["GET", "POST"])
@patient_view(Scope.PLAN_EDIT)
def edit_item(access: Access, kind: str, item_id: int):
    item = services.get_item(access, kind, item_id)
    form = _item_form(access, kind, item)
    if form.validate_on_submit():
        try:
            services.change_item(access, kind, item_id, form.values())
        except PlanError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"Saved “{item.title}”.", "success")
            return redirect(url_for("careplan.plan", patient_id=access.patient_id))
    else:
        audit.record(access, "read", kind, item.id)
    return _render_item_form(access, kind, form, item, status=422 if form.is_submitted() else 200)


@bp.post("/plan/<kind>/<int:item_id>/retire")
@patient_view(Scope.PLAN_EDIT)
def retire_item(access: Access, kind: str, item_id: int):
    try:
        item = services.retire_item(access, kind, item_id)
    except PlanError as error:
        flash(str(error), "error")
    else:
        flash(f"Retired “{item.title}”. It stays in the plan's history.", "success")
    return redirect(url_for("careplan.plan", patient_id=access.patient_id))


@bp.route("/team", methods=["GET", "POST"])
@patient_view(Scope.PLAN_READ)
def team(access: Access):
    form = None
    if access.can(Scope.TEAM_MANAGE):
        form = TeamMemberForm()
        clinicians = services.clinicians_not_on_team(access.patient_id)
        # A clinician account may have no discipline yet (made by the command line).
        form.user_id.choices = [
            (
                u.id,
                f"{u.name}, {u.job_title or (u.discipline and u.discipline.label) or 'clinician'}",
            )
            for u in clinicians
        ]
        if request.method == "POST" and form.validate_on_submit():
            # The list already says each clinician's job: it is the role unless one is typed.
            chosen = next((u for u in clinicians if u.id == form.user_id.data), None)
            role = (form.role.data or "").strip() or (chosen.job_title if chosen else "") or ""
            try:
                services.add_team_member(
                    access,
                    form.user_id.data,
                    role or Discipline(form.discipline.data).label,
                    Discipline(form.discipline.data),
                    form.is_lead.data,
                )
            except PlanError as error:
                form.form_errors.append(str(error))
            else:
                flash("Added to the care team.", "success")
                return redirect(url_for("careplan.team", patient_id=access.patient_id))
    elif request.method == "POST":
        from portal.access import AccessDenied

        raise AccessDenied(Scope.TEAM_MANAGE)
    members = reading.load_team(access.patient_id)
    # The patient and their team see who else helps and what each may do; caregivers do not.
    helpers = helpers_of(access.patient_id) if not access.is_caregiver else []
    # Those who link guardians see the invitations still waiting, to cancel one.
    invitations = (
        waiting_invitations(access.patient_id, kind=GrantKind.GUARDIAN)
        if access.can(Scope.TEAM_MANAGE)
        else []
    )
    # Why the clinic ended a guardian's access is the team's record, not the family's.
    ended = ended_by_clinic(access.patient_id) if access.is_care_team else []
    audit.record(access, "read", "care_team", access.patient_id)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "careplan/team.html",
        access=access,
        members=members,
        form=form,
        helpers=helpers,
        invitations=invitations,
        ended=ended,
    ), status


@bp.post("/team/<int:member_id>/remove")
@patient_view(Scope.TEAM_MANAGE)
def remove_member(access: Access, member_id: int):
    try:
        name = services.remove_team_member(access, member_id)
    except PlanError as error:
        flash(str(error), "error")
    else:
        flash(f"Removed {name} from the care team. They no longer see this plan.", "success")
    return redirect(url_for("careplan.team", patient_id=access.patient_id))


# -- the patient banner (careplan/_patient_nav.html, the plan and its printout): the age
# and the date printed change with the day, not with the data, so they are slots.


def _today(context: dict) -> date:
    return context["now"].astimezone(user_zone()).date()


def _age(value: str, context: dict) -> str:
    """'age 68'; a minor's age stands out ('age 14 · under 18'), for whom a guardian may act."""
    born = date.fromisoformat(value)
    years = guardians.age_on(born, _today(context))
    if years < guardians.ADULT_AGE:
        adult = guardians.ADULT_AGE
        return f'<strong class="patient-banner__minor">age {years} · under {adult}</strong>'
    return f"age {years}"


pagecache.register_slot("age", _age)
pagecache.register_slot("today", lambda _value, context: format_date(_today(context)))
