"""People who help me (the patient), accepting an invitation, acting for someone, guardians."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

from portal import audit
from portal.access import (
    Access,
    AccessDenied,
    Scope,
    own_patient_id,
    patient_view,
    resolve_many,
)
from portal.auth import services as auth_services
from portal.auth.models import UserKind
from portal.auth.passwords import PasswordRejected
from portal.caregivers import guardians, reading, services
from portal.caregivers.choices import keys_for
from portal.caregivers.forms import (
    EndGuardianForm,
    GuardianForm,
    InviteForm,
    RegisterForm,
    ScopesForm,
)
from portal.caregivers.models import Invitation
from portal.db import utcnow
from portal.extensions import db
from portal.patients import Patient

bp = Blueprint("caregivers", __name__)

INVITATION_KEY = "caregiver_invitation"  # the link's token, kept out of the address bar


def _people_url(access: Access) -> str:
    return url_for("caregivers.people", patient_id=access.patient_id)


def _scope_errors(form: ScopesForm, error: services.CaregivingError) -> None:
    target = getattr(form, error.field, None) if error.field else None
    if target is not None:
        target.errors = [*target.errors, str(error)] if target.errors else [str(error)]
    else:
        form.form_errors.append(str(error))


@bp.get("/p/<int:patient_id>/people")
@patient_view(Scope.CAREGIVERS_MANAGE)
def people(access: Access):
    """Who helps the patient, what each may do, and invitations still waiting."""
    helpers = reading.helpers_of(access.patient_id)
    invitations = reading.waiting_invitations(access.patient_id)
    audit.record(access, "read", "caregivers", access.patient_id)
    return render_template(
        "caregivers/people.html", access=access, helpers=helpers, invitations=invitations
    )


@bp.route("/p/<int:patient_id>/people/invite", methods=["GET", "POST"])
@patient_view(Scope.CAREGIVERS_MANAGE)
def invite(access: Access):
    form = InviteForm()
    today = utcnow().date()
    if not form.is_submitted():
        form.ends_on.data = services.default_end(today)
        form.choices.data = ["plan", "goals"]
    if form.validate_on_submit():
        offer = services.Offer(
            form.name.data,
            form.email.data,
            form.relationship.data,
            form.choices.data,
            form.include_sensitive.data,
            form.ends_on.data,
        )
        try:
            invitation = services.invite(access, offer)
        except services.CaregivingError as error:
            _scope_errors(form, error)
        else:
            flash(
                f"We sent an invitation to {invitation.email}. The link works for "
                f"{services.INVITATION_DAYS} days.",
                "success",
            )
            return redirect(_people_url(access))
    else:
        audit.record(access, "open_form", "caregiver_invitation")
    status = 422 if form.is_submitted() else 200
    return render_template("caregivers/invite.html", access=access, form=form), status


@bp.post("/p/<int:patient_id>/people/invitations/<int:invitation_id>/cancel")
@patient_view(Scope.CAREGIVERS_MANAGE)
def cancel_invitation(access: Access, invitation_id: int):
    try:
        services.cancel_invitation(access, invitation_id)
    except services.CaregivingError as error:
        flash(str(error), "error")
    else:
        flash("The invitation is cancelled. Its link no longer works.", "success")
    return redirect(_people_url(access))


def _running_grant(access: Access, grant_id: int):
    grant = reading.grant_of(access.patient_id, grant_id)
    if grant is None or not grant.active(utcnow()):
        abort(404)
    return grant


@bp.route("/p/<int:patient_id>/people/<int:grant_id>", methods=["GET", "POST"])
@patient_view(Scope.CAREGIVERS_MANAGE)
def edit(access: Access, grant_id: int):
    """Change what someone may do, or renew their access with a later end date."""
    grant = _running_grant(access, grant_id)
    helper = next(h for h in reading.helpers_of(access.patient_id) if h.grant_id == grant.id)
    form = ScopesForm()
    if not form.is_submitted():
        form.choices.data = keys_for(grant.scope_set)
        form.include_sensitive.data = grant.include_sensitive
        form.ends_on.data = grant.ends_at.date() - timedelta(days=1)
    if form.validate_on_submit():
        try:
            services.change(
                access,
                grant.id,
                form.choices.data,
                form.include_sensitive.data,
                form.ends_on.data,
            )
        except services.CaregivingError as error:
            _scope_errors(form, error)
        else:
            flash(f"Saved. {helper.name} can do what you chose from their next visit.", "success")
            return redirect(_people_url(access))
    else:
        audit.record(access, "read", "caregiver_grant", grant.id)
    status = 422 if form.is_submitted() else 200
    return render_template("caregivers/edit.html", access=access, form=form, helper=helper), status


@bp.route("/p/<int:patient_id>/people/<int:grant_id>/revoke", methods=["GET", "POST"])
@patient_view(Scope.CAREGIVERS_MANAGE)
def revoke(access: Access, grant_id: int):
    """Ask first, then end someone's access at once."""
    grant = _running_grant(access, grant_id)
    helper = next(h for h in reading.helpers_of(access.patient_id) if h.grant_id == grant.id)
    if request.method == "POST":
        try:
            services.revoke(access, grant.id)
        except services.CaregivingError as error:
            flash(str(error), "error")
        else:
            flash(f"{helper.name} can no longer see or do anything for you.", "success")
        return redirect(_people_url(access))
    audit.record(access, "read", "caregiver_grant", grant.id)
    return render_template("caregivers/revoke.html", access=access, helper=helper)


@bp.route("/p/<int:patient_id>/step-down", methods=["GET", "POST"])
@patient_view("")
def step_down(access: Access):
    """A caregiver stops helping (asked first)."""
    if not access.is_caregiver:
        raise AccessDenied("caregiver")
    if request.method == "POST":
        services.step_down(access)
        flash(f"You no longer help {access.patient_name} in CareCircle.", "success")
        return redirect(url_for("auth.index"))
    audit.record(access, "read", "caregiver_grant", access.grant_id)
    return render_template("caregivers/step_down.html", access=access)


@bp.get("/invitation/<token>")
def invitation_link(token: str):
    """The link from the mail: its token is kept in the session, then out of the address bar."""
    session[INVITATION_KEY] = token
    response = redirect(url_for("caregivers.accept_page"))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invitation() -> Invitation | None:
    try:
        return services.find_invitation(session.get(INVITATION_KEY, ""))
    except services.InvitationInvalid:
        return None


def _invalid():
    session.pop(INVITATION_KEY, None)
    return render_template("caregivers/invitation_invalid.html"), 410


def _accept_as(user):
    token = session.get(INVITATION_KEY, "")
    try:
        grant = services.accept(token, user)
    except services.InvitationInvalid:
        return _invalid()
    except services.CaregivingError as error:
        flash(str(error), "error")
        return redirect(url_for("auth.index"))
    session.pop(INVITATION_KEY, None)
    flash("You accepted. You can now help as far as they chose.", "success")
    return redirect(url_for("careplan.home", patient_id=grant.patient_id))


@bp.route("/invitation", methods=["GET", "POST"])
def accept_page():
    """Accept with the account you are signed in with, or sign in, or make your own account."""
    invitation = _invitation()
    if invitation is None:
        return _invalid()
    if current_user.is_authenticated and request.method == "POST":
        return _accept_as(current_user._get_current_object())
    if request.method == "POST":
        # Signing in starts a fresh session (no fixation), so the link comes back through it.
        token = session.get(INVITATION_KEY, "")
        back = url_for("caregivers.invitation_link", token=token)
        return redirect(url_for("auth.login", next=back))
    form = RegisterForm(data={"name": invitation.name, "email": invitation.email})
    return render_template(
        "caregivers/accept.html",
        invitation=invitation,
        form=form,
        patient=_patient_name(invitation),
    )


def _patient_name(invitation: Invitation) -> str:
    patient = db.session.get(Patient, invitation.patient_id)
    return f"{patient.given_name} {patient.family_name}"


@bp.post("/invitation/register")
def register():
    """A new account of the caregiver's own, then the invitation accepted with it."""
    invitation = _invitation()
    if invitation is None:
        return _invalid()
    form = RegisterForm()
    form.account_email = (form.email.data or "").strip().lower()
    if current_user.is_authenticated:
        return redirect(url_for("caregivers.accept_page"))
    if form.validate_on_submit():
        try:
            user = auth_services.create_user(
                form.email.data, form.password.data, form.name.data.strip(), UserKind.CAREGIVER
            )
        except PasswordRejected as rejected:
            form.password.errors.append(str(rejected))
        except ValueError:
            form.email.errors.append(
                "There is already an account with this email address. Sign in instead."
            )
        else:
            _sign_in(user)
            return _accept_as(user)
    return render_template(
        "caregivers/accept.html",
        invitation=invitation,
        form=form,
        patient=_patient_name(invitation),
    ), 422


def _sign_in(user) -> None:
    from portal.auth.views import SESSION_TOKEN_KEY

    token = session.get(INVITATION_KEY)
    session.clear()  # a fresh session on sign-in: no fixation
    session.permanent = True
    session[INVITATION_KEY] = token
    session[SESSION_TOKEN_KEY] = auth_services.start_session(
        user, request.headers.get("User-Agent")
    )
    login_user(user)


@bp.get("/helping")
@login_required
def helping():
    """The switcher: your own plan, and each person you help with today's to-dos."""
    user = current_user._get_current_object()
    helped = reading.helped_by(user.id)
    # One resolve for all (THE rule, patient by patient), then one read of their goals:
    # the page costs the same whether one helps one person or ten.
    accesses = resolve_many(user, [h.patient_id for h in helped])
    shown = [accesses[h.patient_id] for h in helped if h.patient_id in accesses]
    goals = reading.todays_goals(shown)
    cards = [(access, goals.get(access.patient_id)) for access in shown]
    return render_template("caregivers/helping.html", cards=cards, own=own_patient_id(user))


@bp.route("/p/<int:patient_id>/guardian", methods=["GET", "POST"])
@patient_view(Scope.TEAM_MANAGE)
def link_guardian(access: Access):
    """Clinic staff invite a minor's parent or legal guardian."""
    form = GuardianForm()
    birth_date = guardians_birth_date(access.patient_id)
    minor = guardians.is_minor(birth_date, utcnow().date())
    if minor and form.validate_on_submit():
        try:
            services.invite_guardian(
                access, form.name.data, form.email.data, form.relationship.data, birth_date
            )
        except services.CaregivingError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"We sent {form.email.data.strip()} an invitation to be the guardian.", "success")
            return redirect(url_for("careplan.team", patient_id=access.patient_id))
    elif not form.is_submitted():
        audit.record(access, "open_form", "guardian")
    status = 422 if form.is_submitted() else 200
    return render_template(
        "caregivers/guardian.html", access=access, form=form, minor=minor
    ), status


def guardians_birth_date(patient_id: int):
    return db.session.get(Patient, patient_id).birth_date


def _team_url(access: Access) -> str:
    return url_for("careplan.team", patient_id=access.patient_id)


@bp.route("/p/<int:patient_id>/guardians/<int:grant_id>/end", methods=["GET", "POST"])
@patient_view(Scope.TEAM_MANAGE)
def end_guardian(access: Access, grant_id: int):
    """Clinic staff end a guardian's access at once: asked first, with a reason for the record."""
    guardian = reading.guardian_link(access.patient_id, grant_id)
    if guardian is None:
        abort(404)
    form = EndGuardianForm()
    if guardian.running and form.validate_on_submit():
        try:
            services.end_guardian(access, grant_id, form.cause.data, form.note.data)
        except services.AlreadyEnded:
            pass  # another member of staff was quicker: said below, like any ended grant
        else:
            flash(
                f"{guardian.name} can no longer see or do anything for {access.patient_name}. "
                "We emailed them that their access has ended.",
                "success",
            )
            return redirect(_team_url(access))
    audit.record(access, "read", "caregiver_grant", grant_id)
    if not guardian.running or (form.is_submitted() and not form.errors):
        # A second click, or a page left open: nothing to end, and no error either.
        flash(f"{guardian.name}'s access as guardian has already ended.", "success")
        return redirect(_team_url(access))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "caregivers/end_guardian.html", access=access, guardian=guardian, form=form
    ), status


@bp.post("/p/<int:patient_id>/guardians/invitations/<int:invitation_id>/cancel")
@patient_view(Scope.TEAM_MANAGE)
def cancel_guardian_invitation(access: Access, invitation_id: int):
    """Clinic staff stop a guardian invitation that is still waiting."""
    try:
        services.cancel_guardian_invitation(access, invitation_id)
    except services.AlreadyEnded as error:
        audit.record(access, "read", "guardian_invitation", invitation_id)
        flash(str(error), "success")
    else:
        flash("The invitation is cancelled. Its link no longer works.", "success")
    return redirect(_team_url(access))
