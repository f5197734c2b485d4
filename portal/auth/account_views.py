"""The account page: see your email address, change it or your password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.auth import account
from portal.auth.forms import ChangeEmailForm, ChangePasswordForm, ConfirmForm
from portal.auth.models import User
from portal.auth.passwords import PasswordRejected
from portal.auth.recovery import LinkInvalid
from portal.auth.services import SignInRefused, normalize_email
from portal.extensions import db

bp = Blueprint("account", __name__, url_prefix="/account")

WRONG_PASSWORD = "Your current password is not right. Check it and try again."  # noqa: S105  (a message)


def _me() -> User:
    return db.session.get(User, current_user.id)


def _status() -> int:
    return 422 if request.method == "POST" else 200


@bp.get("")
@login_required
def index():
    pending = account.pending_email_change(current_user.id)
    return render_template("account/index.html", pending=pending)


def _password_ok(user: User, form) -> bool | None:
    """Check the current password typed in `form`; None when too many tries (429)."""
    try:
        ok = account.current_password_ok(user, form.current_password.data)
    except SignInRefused as refused:
        form.form_errors.append(refused.message)
        form.retry_after = refused.retry_after
        return None
    if not ok:
        form.current_password.errors.append(WRONG_PASSWORD)
    return ok


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    form.account_email = current_user.email
    if form.validate_on_submit():
        user = _me()
        ok = _password_ok(user, form)
        if ok is None:
            return render_template("account/change_password.html", form=form), 429, form.retry_after
        if ok:
            try:
                account.change_password(
                    user, form.password.data, keep_session=current_user.session_id
                )
            except PasswordRejected as rejected:
                form.password.errors.append(str(rejected))
            else:
                flash(
                    "Your password is changed. You are signed out on your other devices.", "success"
                )
                return redirect(url_for("account.index"))
    return render_template("account/change_password.html", form=form), _status()


@bp.route("/email", methods=["GET", "POST"])
@login_required
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        new_email = normalize_email(form.email.data)
        if new_email == current_user.email:
            form.email.errors.append("This is already your email address. Enter a new one.")
            return render_template("account/change_email.html", form=form), 422
        user = _me()
        ok = _password_ok(user, form)
        if ok is None:
            return render_template("account/change_email.html", form=form), 429, form.retry_after
        if ok:
            account.request_email_change(user, new_email)
            flash(
                f"We have sent a link to {new_email}. Open it to confirm your new address. "
                f"Until then, keep using {user.email} to sign in.",
                "success",
            )
            return redirect(url_for("account.index"))
    return render_template("account/change_email.html", form=form), _status()


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """The link from the mail shows a button: mail scanners that open links change nothing."""
    try:
        change = account.email_change_for(token)
    except LinkInvalid:
        return render_template("account/link_invalid.html"), 410
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            user = account.confirm_email_change(token)
        except LinkInvalid:
            return render_template("account/link_invalid.html"), 410
        except account.EmailTaken:
            return render_template("account/link_invalid.html", taken=True), 409
        flash(f"Your email address is now {user.email}. Use it to sign in.", "success")
        if current_user.is_authenticated:
            return redirect(url_for("account.index"))
        return redirect(url_for("auth.login"))
    response = render_template("account/confirm_email.html", form=form, new_email=change.new_email)
    return response, _status(), {"Referrer-Policy": "no-referrer"}
