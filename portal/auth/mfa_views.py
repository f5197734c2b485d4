"""Two-step sign-in: the code after the password, setting up an authenticator, recovery codes.

A password alone makes a *pending* server-side session that signs nobody in
(see services.start_session): until the code is given here, every page and
API answers as to a stranger. The code form's field is named `code`.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user

from portal.auth import account, mfa, services, throttle
from portal.auth import devices as devices_service
from portal.auth.forms import CodeForm, ConfirmForm, CurrentPasswordForm
from portal.auth.models import User, UserKind
from portal.auth.services import SignInRefused
from portal.auth.views import NEXT_KEY, SESSION_TOKEN_KEY, _safe_next, home_url
from portal.db import utcnow
from portal.extensions import db

bp = Blueprint("signin", __name__)

WRONG_CODE = "That code is not right, or was already used. Enter the newest code from your app."
WRONG_PASSWORD = "Your current password is not right. Check it and try again."  # noqa: S105
TOO_LATE = "Your sign-in took too long. Sign in again."


def _pending(state: str) -> services.PendingSignIn | None:
    found = services.pending_sign_in(session.get(SESSION_TOKEN_KEY))
    return found if found is not None and found.state == state else None


def _finish(pending: services.PendingSignIn) -> User | None:
    """Sign the session in under a new token; the user, or None if it ended meanwhile."""
    token = services.complete_sign_in(pending)
    if token is None:
        return None
    user = db.session.get(User, pending.user_id)
    session[SESSION_TOKEN_KEY] = token
    login_user(user)
    return user


def _after_sign_in() -> str:
    return _safe_next(session.pop(NEXT_KEY, None)) or home_url()


def _start_again():
    session.pop(SESSION_TOKEN_KEY, None)
    flash(TOO_LATE, "info")
    return redirect(url_for("auth.login"))


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    """The second step: a code from the authenticator app, or a recovery code."""
    if _pending("enrol") is not None:
        return redirect(url_for("signin.setup"))
    pending = _pending("code")
    if pending is None:
        return _start_again()
    form = CodeForm()
    recovery = request.args.get("recovery") == "1"
    if form.validate_on_submit():
        code_key = throttle.key("mfa", str(pending.user_id))
        now = utcnow()
        wait = throttle.wait([code_key], now)
        if wait is not None:
            refused = SignInRefused(wait)
            form.form_errors.append(refused.message)
            page = render_template("auth/second_step.html", form=form, recovery=recovery)
            return page, 429, refused.retry_after
        if mfa.verify(pending.user_id, form.code.data, now):
            throttle.clear(code_key)
            if _finish(pending) is None:
                return _start_again()
            return redirect(_after_sign_in())
        throttle.count_failure(code_key, throttle.account_policy(), now)
        services.security_event(pending.user_id, "second_factor_failed")
        form.code.errors.append(WRONG_CODE)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/second_step.html", form=form, recovery=recovery), status


def _setup_page(user_id: int, email: str, form: CodeForm, action: str, status: int = 200):
    secret = mfa.begin_setup(user_id)
    return render_template(
        "auth/mfa_setup.html",
        form=form,
        qr=mfa.qr_code(email, secret),
        secret=mfa.grouped(secret),
        action=action,
        required=mfa.required_for(db.session.get(User, user_id).kind),
    ), status


@bp.route("/login/setup", methods=["GET", "POST"])
def setup():
    """A required second factor is set up before anything else (after the password)."""
    pending = _pending("enrol")
    if pending is None:
        if _pending("code") is not None:
            return redirect(url_for("signin.code"))
        return _start_again()
    form = CodeForm()
    user = db.session.get(User, pending.user_id)
    if form.validate_on_submit():
        codes = mfa.confirm_setup(user.id, form.code.data)
        if codes is not None:
            if _finish(pending) is None:
                return _start_again()
            return render_template(
                "auth/recovery_codes.html", codes=codes, continue_url=_after_sign_in()
            )
        form.code.errors.append(WRONG_CODE)
        return _setup_page(user.id, user.email, form, url_for("signin.setup"), 422)
    return _setup_page(user.id, user.email, form, url_for("signin.setup"))


# -- the account page's two-step sign-in section ------------------------------------


def _me() -> User:
    return db.session.get(User, current_user.id)


@bp.get("/account/two-step")
@login_required
def settings():
    enrolled = mfa.is_enrolled(current_user.id)
    return render_template(
        "account/two_step.html",
        enrolled=enrolled,
        required=mfa.required_for(current_user.kind),
        codes_left=mfa.recovery_codes_left(current_user.id) if enrolled else 0,
    )


@bp.route("/account/two-step/setup", methods=["GET", "POST"])
@login_required
def account_setup():
    """Turn two-step sign-in on (patients and caregivers choose to)."""
    if mfa.is_enrolled(current_user.id):
        return redirect(url_for("signin.settings"))
    form = CodeForm()
    action = url_for("signin.account_setup")
    if form.validate_on_submit():
        codes = mfa.confirm_setup(current_user.id, form.code.data)
        if codes is not None:
            return render_template(
                "auth/recovery_codes.html",
                codes=codes,
                continue_url=url_for("signin.settings"),
            )
        form.code.errors.append(WRONG_CODE)
        return _setup_page(current_user.id, current_user.email, form, action, 422)
    return _setup_page(current_user.id, current_user.email, form, action)


def _password_checked(form: CurrentPasswordForm) -> int | None:
    """None when the current password is right; else the status to answer with."""
    try:
        ok = account.current_password_ok(_me(), form.current_password.data)
    except SignInRefused as refused:
        form.form_errors.append(refused.message)
        g.retry_after = refused.retry_after
        return 429
    if not ok:
        form.current_password.errors.append(WRONG_PASSWORD)
        return 422
    return None


@bp.route("/account/two-step/off", methods=["GET", "POST"])
@login_required
def turn_off():
    """Turn two-step sign-in off: only where it is not required, and with the password."""
    if not mfa.is_enrolled(current_user.id):
        return redirect(url_for("signin.settings"))
    required = mfa.required_for(current_user.kind)
    form = CurrentPasswordForm()
    status = 200
    if required:
        status = 403 if request.method == "POST" else 200
    elif form.validate_on_submit():
        status = _password_checked(form)
        if status is None:
            mfa.turn_off(_me())
            flash("Two-step sign-in is off. You sign in with your password alone.", "success")
            return redirect(url_for("signin.settings"))
    elif request.method == "POST":
        status = 422
    page = render_template("account/two_step_off.html", form=form, required=required)
    return page, status, g.get("retry_after", {})


@bp.route("/account/two-step/recovery-codes", methods=["GET", "POST"])
@login_required
def recovery_codes():
    """Ten new recovery codes (the old ones stop working), after the password."""
    if not mfa.is_enrolled(current_user.id):
        return redirect(url_for("signin.settings"))
    form = CurrentPasswordForm()
    status = 200
    if form.validate_on_submit():
        status = _password_checked(form)
        if status is None:
            codes = mfa.new_recovery_codes(current_user.id)
            services.security_event(current_user.id, "recovery_codes_renewed")
            return render_template(
                "auth/recovery_codes.html", codes=codes, continue_url=url_for("signin.settings")
            )
    elif request.method == "POST":
        status = 422
    page = render_template("account/recovery_codes_new.html", form=form)
    return page, status, g.get("retry_after", {})


@bp.post("/admin/users/<int:user_id>/second-factor/reset")
@login_required
def admin_reset(user_id: int):
    """An administrator clears a lost second factor; the person sets up a new one at sign-in."""
    if current_user.kind is not UserKind.ADMIN:
        abort(404)  # deny by default: nobody else learns which accounts exist
    target = db.session.get(User, user_id)
    if target is None:
        abort(404)
    mfa.reset_second_factor(target.id, admin_id=current_user.id)
    flash(
        f"{target.name}'s second factor is cleared and their sessions have ended. "
        "They set up a new one the next time they sign in.",
        "success",
    )
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))


# -- saved pages end with their session ---------------------------------------------

SESSION_LEFT_HEADER = "X-CC-Session-Left"


@bp.after_app_request
def session_left(response):
    """Tell the service worker how long this page's session lasts (seconds, clock-skew free).

    It stores the end with each page it saves for offline reading, and deletes
    them, rather than showing them, once the session would have timed out.
    """
    user = g.get("_login_user")  # only if this request loaded the user: no query here
    ends = getattr(user, "session_ends", None)
    if ends is not None and response.mimetype == "text/html":
        left = max(0, int((ends - utcnow()).total_seconds()))
        response.headers[SESSION_LEFT_HEADER] = str(left)
    return response


# -- "Your devices" -------------------------------------------------------------------


@bp.get("/account/devices")
@login_required
def devices():
    """The account's signed-in sessions: device, place, last seen; sign any of them out."""
    found = devices_service.live_sessions(
        current_user.id, current_user.kind, current_user.session_id, request.remote_addr
    )
    return render_template("account/devices.html", devices=found, form=ConfirmForm())


@bp.post("/account/devices/<int:session_id>/sign-out")
@login_required
def sign_out_device(session_id: int):
    if session_id == current_user.session_id:
        abort(400)  # this device signs out with the usual button (it also clears its data)
    if not devices_service.sign_out_device(current_user.id, session_id):
        abort(404)  # not this account's, or already ended: nothing to say about others
    flash("That device is signed out. It needs your password to come back.", "success")
    return redirect(url_for("signin.devices"))


@bp.post("/account/devices/sign-out-others")
@login_required
def sign_out_others():
    count = devices_service.sign_out_others(current_user.id, current_user.session_id)
    flash(
        f"Signed out on {count} other device{'' if count == 1 else 's'}."
        if count
        else "You were not signed in anywhere else.",
        "success",
    )
    return redirect(url_for("signin.devices"))
