"""Request lifecycle, errors, security headers and template helpers."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, g, jsonify, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError, generate_csrf
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from portal import fragments
from portal.access import AccessDenied, Scope, wants_json
from portal.extensions import db

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
    413: "That is too large to send.",
    429: "Too many requests. Wait a moment and try again.",
    500: "Something went wrong on our side. Nothing you entered was saved. Try again in a minute.",
}


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def finish(response):
        # One commit per request: services flush; success (and a form shown
        # again with its errors, 422, whose services validated before writing)
        # commits the change with its audit rows; anything else rolls back.
        if not db.session.registry.has():
            pass  # the request never touched the database (static files, health, ...)
        elif response.status_code < 400 or response.status_code == 422:
            db.session.commit()
        else:
            db.session.rollback()
        _security_headers(response)
        return response

    @app.teardown_request
    def rollback_on_error(exc):
        if exc is not None:
            db.session.rollback()


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
        db.session.rollback()
        # Log the type and where, never the request's content (it may hold health data).
        log.exception(
            "unhandled %s on %s %s", type(error).__name__, request.method, request.endpoint
        )
        return _error_response(500, MESSAGES[500])


def user_zone() -> ZoneInfo:
    """The signed-in user's time zone (UTC when unknown)."""
    name = getattr(current_user, "timezone", None) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: datetime) -> datetime:
    return value.astimezone(user_zone())


def format_when(value: datetime | None) -> str:
    """'26 Nov 2026, 2:05 pm' in the user's time zone."""
    if value is None:
        return ""
    moment = local(value)
    half = "am" if moment.hour < 12 else "pm"
    return f"{moment.day} {moment:%b %Y}, {moment.hour % 12 or 12}:{moment:%M} {half}"


def format_date(value: date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return f"{value.day} {value:%b %Y}"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """'2 hours ago', 'yesterday', or a date: how people say when."""
    if value is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    if seconds < 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = (local(now).date() - local(value).date()).days
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return format_date(value)


# Feature packages add patient tabs here: (endpoint, label, scope) in display order.
PATIENT_TABS: list[tuple[str, str, str]] = [("goals.index", "Goals", Scope.GOALS_READ)]


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


def patient_nav(access) -> Markup:
    """The patient-section header (whose record, the tabs), kept per viewer and page."""
    from portal import fragments

    key = ("patient-nav", *access.viewer_key(), request.endpoint, request.script_root)
    return fragments.cache().get_or_make(
        key, lambda: render_template("careplan/_patient_nav.html", access=access)
    )


# Signed CSRF tokens by the session's raw token (see csrf_token); bounded.
_SIGNED_TOKENS_MAX = 2_000


def csrf_token() -> str:
    """Flask-WTF's `generate_csrf`, signing each session's token once per worker.

    Flask-WTF signs the session's raw token afresh on every request; the
    signature carries a timestamp that is only ever checked when
    WTF_CSRF_TIME_LIMIT is set. Ours is None (a token lives as long as its
    session), so a token signed once stays exactly as valid as a new one and is
    reused. With a time limit configured, every request signs anew as before.
    Inside `fragments.slots()` it renders the slot the request's token fills.
    """
    if g.get("fragment_slots"):
        return fragments.CSRF_SLOT
    if "csrf_token" in g:
        return g.csrf_token
    app = current_app
    raw = session.get("csrf_token")
    signed_tokens = app.extensions.setdefault("signed_csrf_tokens", {})
    if raw is None or app.config["WTF_CSRF_TIME_LIMIT"] is not None:
        return generate_csrf()
    signed = signed_tokens.get(raw)
    if signed is None:
        signed = generate_csrf()
        if len(signed_tokens) >= _SIGNED_TOKENS_MAX:
            signed_tokens.clear()
        signed_tokens[raw] = signed
    g.csrf_token = signed
    return signed


def register_template_helpers(app: Flask) -> None:
    from portal.pwa.assets import asset_url, install

    install(app)
    app.jinja_env.filters.update(when=format_when, day=format_date, ago=ago)
    app.jinja_env.globals.update(
        asset=asset_url, patient_tabs=patient_tabs, patient_nav=patient_nav, csrf_token=csrf_token
    )
    # Flask-WTF also hands templates its own csrf_token through a context
    # processor, which would win over the global; this one runs after it.
    app.context_processor(lambda: {"csrf_token": csrf_token})
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
