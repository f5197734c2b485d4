"""The administration area under /admin: administrators only, everyone else 404."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.admin import services
from portal.admin.forms import ActionForm, CorrectEmailForm, NewClinicianForm
from portal.auth import mfa
from portal.auth.models import Discipline, User, UserKind
from portal.enrolment import activation
from portal.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def administrators_only():
    # Deny by default: nobody else learns the area exists.
    if current_user.kind is not UserKind.ADMIN:
        abort(404)


@bp.get("/")
def accounts():
    query = request.args.get("q", "").strip()[:100]
    page = services.accounts(current_user, query, request.args.get("page", 1, type=int))
    return render_template(
        "admin/accounts.html", page=page, query=query, state_of=services.state_of
    )


@bp.route("/clinicians/new", methods=["GET", "POST"])
def new_clinician():
    form = NewClinicianForm()
    if form.validate_on_submit():
        try:
            user = services.create_clinician(
                current_user,
                form.name.data,
                form.email.data,
                Discipline(form.discipline.data),
                form.job_title.data,
            )
        except activation.EmailTaken:
            form.email.errors.append(
                "An account with this email address already exists. Check it, or use another one"
            )
        else:
            flash(
                f"{user.name}'s account is made. We have emailed {user.email} a link to choose "
                f"a password; it works for {activation.ACTIVATION_DAYS} days.",
                "success",
            )
            return redirect(url_for("admin.account", user_id=user.id))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/new_clinician.html", form=form), status


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/accounts/<int:user_id>")
def account(user_id: int):
    user = services.account(current_user, user_id)
    if user is None:
        abort(404)
    return _account_page(user, CorrectEmailForm(data={"email": user.email}))


def _account_page(user: User, email_form: CorrectEmailForm, status: int = 200):
    return render_template(
        "admin/account.html",
        person=user,
        state=services.state_of(user),
        link=activation.pending_link(user.id),
        second_factor=mfa.is_enrolled(user.id),
        form=ActionForm(),
        email_form=email_form,
    ), status


@bp.post("/accounts/<int:user_id>/email")
def correct_email(user_id: int):
    """A typo in the address of an account not set up yet: fix it and send the link there."""
    user = _user(user_id)
    form = CorrectEmailForm()
    if form.validate_on_submit():
        try:
            services.correct_email(current_user, user, form.email.data)
        except services.AdminRefused as refused:
            form.form_errors.append(str(refused))
        except activation.EmailTaken:
            form.email.errors.append("Another account already uses this email address")
        else:
            flash(
                f"We have sent a new link to {user.email}. Earlier links no longer work.", "success"
            )
            return redirect(url_for("admin.account", user_id=user.id))
    return _account_page(user, form, 422)


def _act(user_id: int, action, done: str):
    """Run one account action from a button; 422 with the reason when the rules refuse it."""
    user = _user(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action(user)
    except services.AdminRefused as refused:
        flash(str(refused), "error")
        return redirect(url_for("admin.account", user_id=user.id)), 303
    flash(done.format(name=user.name, email=user.email), "success")
    return redirect(url_for("admin.account", user_id=user.id))


@bp.post("/accounts/<int:user_id>/disable")
def disable(user_id: int):
    return _act(
        user_id,
        lambda user: services.set_enabled(current_user, user, False),
        "{name}'s account is disabled. They are signed out everywhere and cannot sign in.",
    )


@bp.post("/accounts/<int:user_id>/enable")
def enable(user_id: int):
    return _act(
        user_id,
        lambda user: services.set_enabled(current_user, user, True),
        "{name}'s account is enabled. They can sign in again.",
    )


@bp.post("/accounts/<int:user_id>/resend")
def resend(user_id: int):
    return _act(
        user_id,
        lambda user: services.resend_activation(current_user, user),
        "We have sent a new link to {email}. Earlier links no longer work.",
    )
