"""The Flask application class: Flask, with URL building and cookie checks memoised.

Every page builds a dozen links (header, tabs, assets) with `url_for`; each
build walks Werkzeug's rule map, which profiling showed at ~10% of a plan
page. A built path depends only on the endpoint, its values, and the host
and script root it is built under, so the common case (a relative URL with
plain str/int values) is kept in a bounded dict; anything else (external
URLs, anchors, methods, URL defaults callbacks) goes through Flask untouched.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Request, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

URL_CACHE_SIZE = 4096
VERIFIED_COOKIES_MAX = 2_000  # about 1-2 KB each: a few MiB at most
_IMMUTABLE = (str, int, float, bool, type(None))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, verifying each distinct cookie once per worker.

    A browser sends the same session cookie on every request until the session
    changes. Flask checks its signature afresh each time (a key derivation, an
    HMAC, a decompress and a JSON parse: ~6% of a page). A cookie value that
    verified once verifies again, so its payload is kept, keyed by the exact
    cookie string, and reused while the cookie's own age is within the session
    lifetime (the same check itsdangerous makes). Payloads holding anything
    mutable (flashed messages) are not kept: views may change those in place.
    Changing the secret key empties the cache.
    """

    _signing: tuple[tuple, URLSafeTimedSerializer | None, dict[str, tuple[dict, float]]] | None
    _signing = None

    def _state(self, app: Flask) -> tuple:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._signing is None or self._signing[0] != keys:
            self._signing = (keys, super().get_signing_serializer(app), {})
        return self._signing

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        return self._state(app)[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        _, serializer, verified = self._state(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = app.permanent_session_lifetime.total_seconds()
        known = verified.get(cookie)
        if known is not None:
            data, signed_at = known
            if 0 <= time.time() - signed_at <= max_age:
                return self.session_class(data)
            verified.pop(cookie, None)
            return self.session_class()
        try:
            data, signed_at = serializer.loads(cookie, max_age=int(max_age), return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if all(type(value) in _IMMUTABLE for value in data.values()):
            if len(verified) >= VERIFIED_COOKIES_MAX:
                verified.clear()
            verified[cookie] = (data, signed_at.timestamp())
        return self.session_class(data)


class Portal(Flask):
    session_interface = SessionInterface()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built_urls: dict[tuple, str] = {}

    def url_for(
        self,
        /,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        if (
            _anchor is None
            and _method is None
            and _scheme is None
            and not _external
            and endpoint[:1] != "."
            and has_request_context()
            and all(type(v) in (int, str) for v in values.values())
            and not any(self.url_default_functions.values())
        ):
            environ = request.environ
            key = (
                environ.get("HTTP_HOST"),
                environ.get("SCRIPT_NAME"),
                endpoint,
                *sorted(values.items()),
            )
            url = self._built_urls.get(key)
            if url is None:
                url = super().url_for(endpoint, _external=_external, **values)
                if len(self._built_urls) >= URL_CACHE_SIZE:
                    self._built_urls.clear()
                self._built_urls[key] = url
            return url
        return super().url_for(
            endpoint,
            _anchor=_anchor,
            _method=_method,
            _scheme=_scheme,
            _external=_external,
            **values,
        )
