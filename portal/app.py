"""The Flask application class: Flask, with URL building memoised per request host.

Every page builds a dozen links (header, tabs, assets) with `url_for`; each
build walks Werkzeug's rule map, which profiling showed at ~10% of a plan
page. A built path depends only on the endpoint, its values, and the host
and script root it is built under, so the common case (a relative URL with
plain str/int values) is kept in a bounded dict; anything else (external
URLs, anchors, methods, URL defaults callbacks) goes through Flask untouched.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

URL_CACHE_SIZE = 4096


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its serializer built once per key, not per request."""

    _serializer: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer is None or self._serializer[0] != keys:
            self._serializer = (keys, super().get_signing_serializer(app))
        return self._serializer[1]


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
