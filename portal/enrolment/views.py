"""Enrol a patient; follow an activation link and choose a first password."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

from portal.access import Access, Scope, own_patient_id, patient_view
from portal.auth import services as auth_services
from portal.auth.models import User, UserKind
from portal.auth.passwords import PasswordRejected
from portal.auth.recovery import LinkInvalid
from portal.auth.views import SESSION_TOKEN_KEY
from portal.db import utcnow
from portal.enrolment import activation, services
from portal.enrolment.forms import ActivateForm, EnrolPatientForm, ResendForm
from portal.extensions import db
from portal.patients import Patient
from portal.when import user_zone

bp = Blueprint("enrolment", __name__)

ACTIVATION_KEY = "activation"  # the session key holding a followed link's token


@bp.route("/patients/new", methods=["GET", "POST"])
@login_required
def new_patient():
    if not services.may_enrol(current_user):
        abort(404)
    form = EnrolPatientForm()
    if current_user.kind is UserKind.ADMIN:
        form.lead_id.choices = [("", "Choose a clinician"), *services.clinicians()]
    else:
        del form.lead_id  # the clinician who enrols leads the team
    if form.validate_on_submit():
        data = services.NewPatient(
            form.given_name.data, form.family_name.data, form.birth_date, form.email.data
        )
        try:
            lead = form.lead_id.data if "lead_id" in form else None
            lead_id = int(lead) if lead and str(lead).isdigit() else None
            patient = services.enrol_patient(current_user, data, _today(), lead_id)
        except services.EnrolmentRefused as refused:
            for name, message in refused.errors.items():
                form[name].errors.append(message)
        else:
            flash(
                f"{data.given_name} {data.family_name} is enrolled. We have emailed "
                f"{patient_email(patient)} a link to set up their account; it works for "
                f"{activation.ACTIVATION_DAYS} days.",
                "success",
            )
            if current_user.kind is UserKind.ADMIN:
                return redirect(url_for("admin.account", user_id=patient.user_id))
            return redirect(url_for("enrolment.patient_activation", patient_id=patient.id))
    status = 422 if request.method == "POST" else 200
    return render_template("enrolment/new_patient.html", form=form), status


def _today() -> date:
    """Today where the person enrolling is: a baby born there today may be enrolled."""
    return datetime.now(user_zone()).date()


def patient_email(patient: Patient) -> str:
    return db.session.get(User, patient.user_id).email


@bp.route("/patients/<int:patient_id>/activation", methods=["GET", "POST"])
@patient_view(Scope.TEAM_MANAGE)
def patient_activation(access: Access):
    """The care team sees whether the patient has set up their account, and resends the link."""
    form = ResendForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            user = services.resend_patient_link(access)
        except activation.AlreadyActive:
            abort(409)
        flash(f"We have sent a new link to {user.email}. Earlier links no longer work.", "success")
        return redirect(url_for("enrolment.patient_activation", patient_id=access.patient_id))
    user = services.patient_account(access)
    link = activation.pending_link(user.id) if user is not None else None
    expired = link is None or link.expires_at <= utcnow()
    return render_template(
        "enrolment/patient_activation.html",
        access=access,
        person=user,
        link=link,
        expired=expired,
        form=form,
    )


@bp.get("/activate/<token>")
def activate_link(token: str):
    """The link from the mail: kept in the session, then out of the address bar."""
    try:
        activation.account_for(token)
    except LinkInvalid:
        return _link_invalid(token)
    session[ACTIVATION_KEY] = token
    response = redirect(url_for("enrolment.activate"))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _link_invalid(token: str = ""):
    form = ResendForm()
    return render_template("enrolment/link_invalid.html", token=token, form=form), 410


@bp.route("/activate", methods=["GET", "POST"])
def activate():
    token = session.get(ACTIVATION_KEY, "")
    try:
        user = activation.account_for(token)
    except LinkInvalid:
        session.pop(ACTIVATION_KEY, None)
        return _link_invalid(token)
    form = ActivateForm()
    form.account_email = user.email
    if form.validate_on_submit():
        try:
            user = activation.activate(token, form.password.data)
        except LinkInvalid:
            return _link_invalid()
        except PasswordRejected as rejected:
            form.password.errors.append(str(rejected))
        else:
            return _welcome(user)
    status = 422 if request.method == "POST" else 200
    return render_template("enrolment/activate.html", form=form, person=user), status


def _welcome(user: User):
    """A patient lands signed in on their plan; staff sign in (their second factor is due)."""
    session.clear()
    if user.kind is not UserKind.PATIENT:
        flash("Your password is saved. Sign in with it now.", "success")
        return redirect(url_for("auth.login"))
    # The same steps as the sign-in form: a fresh session, held on the server.
    session.permanent = True
    session[SESSION_TOKEN_KEY] = auth_services.start_session(
        user, request.headers.get("User-Agent")
    )
    login_user(user)
    flash("Your account is ready. This is your care plan.", "success")
    patient_id = own_patient_id(user)
    if patient_id is None:
        return redirect(url_for("auth.index"))
    return redirect(url_for("careplan.plan", patient_id=patient_id))


@bp.post("/activate/resend")
def resend():
    """An expired, unused link asks for a new one to the same address."""
    form = ResendForm()
    token = request.form.get("token", "")
    if not form.validate_on_submit() or not activation.resend_expired(token):
        return _link_invalid()
    return render_template("enrolment/link_sent.html", days=activation.ACTIVATION_DAYS)
