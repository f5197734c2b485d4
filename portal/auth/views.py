"""Sign-in, sign-out, and the landing redirect."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.access import own_patient_id
from portal.auth import mfa, recovery, services
from portal.auth.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm
from portal.auth.models import UserKind
from portal.auth.passwords import PasswordRejected

bp = Blueprint("auth", __name__)

SESSION_TOKEN_KEY = "sid"  # noqa: S105  (a session key name, not a secret)
RESET_TOKEN_KEY = "reset"  # noqa: S105  (a session key name, not a secret)
NEXT_KEY = "next"  # where to go once the second step of sign-in is done


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never an open redirect; a line break in one is refused (400)."""
    if not target:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        abort(400)  # a line break would split the Location header: a header injection try
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def home_url() -> str:
    """Where a signed-in user starts: their own home, or the clinic panel."""
    if current_user.kind is UserKind.CLINICIAN:
        return url_for("clinic.panel")
    if current_user.kind is UserKind.ADMIN:
        return url_for("admin.accounts")
    if current_user.kind is UserKind.PATIENT:
        patient_id = own_patient_id(current_user)
        if patient_id is not None:
            return url_for("careplan.home", patient_id=patient_id)
    if current_user.kind is UserKind.CAREGIVER:
        return url_for("caregivers.helping")  # the people they help (or that there are none)
    return url_for("auth.no_patients")


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_url())


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_url())
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data, form.password.data, client_addr=request.remote_addr
            )
        except services.SignInRefused as refused:
            form.form_errors.append(refused.message)
            return render_template("auth/login.html", form=form), 429, refused.retry_after
        if user is not None:
            previous = session.get(SESSION_TOKEN_KEY)
            if previous:
                # Signing in again in a signed-in browser: its earlier session ends.
                services.end_session(previous)
            next_url = _safe_next(request.args.get("next"))
            state = mfa.sign_in_state(user)
            session.clear()  # a fresh session on sign-in: no fixation
            session.permanent = True
            session[SESSION_TOKEN_KEY] = services.start_session(
                user,
                request.headers.get("User-Agent"),
                pending=state,
                client_addr=request.remote_addr,
            )
            if state is not None:  # the password alone signs nobody in
                if next_url:
                    session[NEXT_KEY] = next_url
                return redirect(url_for("signin.code" if state == "code" else "signin.setup"))
            login_user(user)
            return redirect(next_url or home_url())
        form.form_errors.append(
            "The email address or password is not right. Check them and try again."
        )
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


def _sign_out(message: str):
    """End this browser's session (server and cookie) and send it to the sign-in page."""
    token = session.get(SESSION_TOKEN_KEY)
    if token:
        services.end_session(token)
    logout_user()
    session.clear()
    flash(message, "info")
    response = redirect(url_for("auth.login"))
    # The browser drops this site's caches and stored data (the service worker's
    # saved pages and the offline queue): a shared phone forgets the user.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.post("/logout")
def logout():
    # portal/auth/services.end_session records the sign-out in the trail.
    return _sign_out("You are signed out. Nothing of yours is left on this device.")


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link: the same page whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        recovery.request_password_reset(form.email.data)
        return render_template(
            "auth/forgot_password_sent.html",
            email=form.email.data.strip(),
            minutes=recovery.reset_minutes(),
        )
    status = 422 if request.method == "POST" else 200
    return render_template("auth/forgot_password.html", form=form), status


def _link_invalid():
    return render_template("auth/link_invalid.html"), 410


@bp.get("/reset-password/<token>")
def reset_password_link(token: str):
    """The link from the mail: kept in the session, then out of the address bar."""
    try:
        recovery.reset_link_user(token)
    except recovery.LinkInvalid:
        return _link_invalid()
    session[RESET_TOKEN_KEY] = token
    response = redirect(url_for("auth.reset_password"))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/reset-password", methods=["GET", "POST"])
def reset_password():
    token = session.get(RESET_TOKEN_KEY, "")
    try:
        user = recovery.reset_link_user(token)
    except recovery.LinkInvalid:
        session.pop(RESET_TOKEN_KEY, None)
        return _link_invalid()
    form = ResetPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        try:
            recovery.reset_password(token, form.password.data)
        except recovery.LinkInvalid:
            return _link_invalid()
        except PasswordRejected as rejected:
            form.password.errors.append(str(rejected))
        else:
            return _sign_out(
                "Your password is changed, and you are signed out everywhere. "
                "Sign in with your new password."
            )
    status = 422 if request.method == "POST" else 200
    return render_template("auth/reset_password.html", form=form, email=user.email), status


@bp.get("/welcome")
@login_required
def no_patients():
    """A signed-in account that is linked to no patient yet (e.g. a caregiver before a grant)."""
    return render_template("auth/no_patients.html")
