"""Request lifecycle, errors, security headers and template helpers."""

from __future__ import annotations

import logging
from datetime import time

from flask import Flask, g, jsonify, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal import audit, transaction
from portal.access import AccessDenied, Scope, resolve, wants_json
from portal.when import ago, clock, format_date, format_when, reader_language

log = logging.getLogger(__name__)

# A strict policy from day one: no inline script or style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

MESSAGES = {
    400: "The request could not be understood. Go back and try again.",
    403: "You do not have permission to do that.",
    404: "We could not find that page.",
    405: "That action is not possible here.",
    413: "That is too much to send at once. Shorten what you wrote and try again.",
    429: "Too many requests. Wait a moment and try again.",
    500: "Something went wrong on our side. Nothing you entered was saved. Try again in a minute.",
}


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def finish(response):
        # One commit per request: services flush; success (and a form shown
        # again with its errors, 422, whose services validated before writing)
        # commits the change with its audit rows; anything else rolls back.
        if not transaction.touched():
            pass  # the request never touched the database (static files, health, ...)
        elif response.status_code < 400 or response.status_code in (422, 429):
            # 429: a refused sign-in try is still counted (portal/auth/throttle.py).
            _unrecorded(response)
            transaction.commit()
        else:
            transaction.rollback()
            _refused(response.status_code)
            _unrecorded(response)  # after the rollback: the view's own rows went with it
            audit.write_kept()  # a refused attempt survives the rollback
        _security_headers(response)
        return response

    @app.teardown_request
    def rollback_on_error(exc):
        if exc is not None:
            transaction.rollback()

    # Each app context's end, the request's and any pushed inside it: their
    # connections are kept in `g`, which is the app context's.
    app.teardown_appcontext(lambda _exc: transaction.close())


def _refused(status: int) -> None:
    """A patient's page refused a signed-in user: audit the attempt.

    403 and 404 come from the policy (portal/access.py). Any other 4xx before a
    patient view ran (input no field can hold, portal/request_checks.py; an
    expired or forged form, CSRF; a body over the limit) is refused too: who,
    which path, whose, and as which relation, so a patient's own slip is not
    shown to them as someone else's attempt.
    """
    if status in (403, 404) and g.get("patient_id") is not None:
        audit.refused_attempt(g.patient_id, g.get("access"), status)
        return
    patient_id = (request.view_args or {}).get("patient_id")
    if not 400 <= status < 500 or status in (401, 405) or g.get("patient_id") is not None:
        return
    if isinstance(patient_id, int) and current_user.is_authenticated:
        user = current_user._get_current_object()
        audit.refused_attempt(patient_id, resolve(user, patient_id), status)


def _unrecorded(response) -> None:
    """A patient view's answer that none of its own audit rows names: the net records it.

    So no view can forget: a form shown again with its errors (422) is a read,
    any other 4xx a change not saved. 403 and 404 are refusals (`_refused`).
    """
    access = g.get("access")
    status = response.status_code
    if access is None or status in (403, 404) or status >= 500:
        return
    if status < 400 and not (status < 300 or request.method != "GET"):
        return  # a redirect to another page shows nothing: that page records its own read
    if not audit.names(access.patient_id):
        audit.unrecorded_answer(access, status, page=response.mimetype == "text/html")


# Sent on every response (a view may set its own value for any of them).
_ALWAYS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
# Pages about a patient are never kept by shared or browser HTTP caches; the
# service worker keeps its own per-user copy, cleared at sign-out.
_NOT_STATIC = (("Cache-Control", "no-store"),)
_HSTS = (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)


def _security_headers(response) -> None:
    defaults = _ALWAYS
    if not request.path.startswith("/static/"):
        defaults += _NOT_STATIC
        if request.is_secure:
            defaults += _HSTS
    # One pass over the headers already set, not a scan per default.
    present = {key.lower() for key, _ in response.headers.items()}
    response.headers.extend([(k, v) for k, v in defaults if k.lower() not in present])


def _error_response(status: int, message: str, fields: dict | None = None):
    if wants_json():
        body = {"error": message}
        if fields:
            body["fields"] = fields
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _error_response(
            400,
            "This form has expired or was sent from somewhere else. Reload the page and try again.",
        )

    @app.errorhandler(AccessDenied)
    def access_denied(error):
        return _error_response(403, MESSAGES[403])

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in (301, 302, 303, 307, 308):
            return error
        message = MESSAGES.get(error.code or 500, error.description or "")
        if error.code == 401 and wants_json():
            message = "Sign in first."
        return _error_response(error.code or 500, message)

    @app.errorhandler(Exception)
    def unexpected(error):
        transaction.rollback()
        # Log the type and where, never the request's content (it may hold health data).
        log.exception(
            "unhandled %s on %s %s", type(error).__name__, request.method, request.endpoint
        )
        return _error_response(500, MESSAGES[500])


# Feature packages add patient tabs here: (endpoint, label, scope) in display order.
PATIENT_TABS: list[tuple[str, str, str]] = [
    ("goals.index", "Goals", Scope.GOALS_READ),
]


def patient_tabs(access) -> list[tuple[str, str, bool]]:
    """The patient-section tabs this access may open: (url, label, is the current page)."""
    tabs: list[tuple[str, str, dict]] = []
    if access.is_care_team:
        tabs.append(("clinic.panel", "My patients", {}))
    else:
        tabs.append(("careplan.home", "Today", {"patient_id": access.patient_id}))
    tabs.append(("careplan.plan", "Plan", {"patient_id": access.patient_id}))
    tabs.extend(
        (endpoint, label, {"patient_id": access.patient_id})
        for endpoint, label, scope in PATIENT_TABS
        if access.can(scope)
    )
    tabs.append(("careplan.team", "Care team", {"patient_id": access.patient_id}))
    current = request.endpoint
    return [
        (url_for(endpoint, **args), label, endpoint == current) for endpoint, label, args in tabs
    ]


def register_template_helpers(app: Flask) -> None:
    from portal import notices
    from portal.pwa.assets import asset_url, install

    install(app)
    notices.install(app)
    app.jinja_env.filters.update(when=format_when, day=format_date, ago=ago, clock=clock)
    app.jinja_env.globals.update(time_of_day=time, reader_language=reader_language)
    app.jinja_env.globals.update(asset=asset_url, patient_tabs=patient_tabs)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
