"""Versioned static asset URLs: the content hash is in the name.

`asset_url("js/app.js")` gives `/static/js/app.3f2a9c1b7d.js`; the static route
serves that name from `static/js/app.js` with a year-long immutable cache. A new
deploy changes the name, so no page is ever stuck on old assets.

A bundle (`BUNDLES`) is a name with no file of its own: its declared source
files joined in order, once per worker, and hashed like a file. Pages link
`css/portal.css`, so a page makes one render-blocking stylesheet request
however many features keep their own stylesheet (each one a round trip on a
phone's network, all before the first paint).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import current_app, request, url_for

HASHED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})(?P<ext>\.[A-Za-z0-9]+)$")

# Order is the cascade: app.css first (the features' files build on its custom
# properties and override its rules), then one file per feature. Sources live in
# the bundle's folder, so any relative url() in them resolves the same. No
# @import or @charset: they are only valid at the top of a stylesheet.
BUNDLES: dict[str, tuple[str, ...]] = {
    "css/portal.css": (
        "css/app.css",
        "css/goals.css",
        "css/decisions.css",
        "css/preferences.css",
        "css/account.css",
    ),
}
MIMETYPES = {".css": "text/css", ".js": "text/javascript"}


@dataclass(frozen=True)
class Bundle:
    name: str
    body: bytes
    digest: str


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:10]


@cache
def _digest(path: Path, mtime_ns: int) -> str:
    return _hash(path.read_bytes())


@cache
def _join(name: str, sources: tuple[tuple[Path, str, int], ...]) -> Bundle:
    # Each part is headed by its source's name, so a rule seen in the browser's
    # inspector leads back to the file to edit.
    parts = [
        f"/* {label} */\n".encode() + path.read_bytes().rstrip() + b"\n"
        for path, label, _ in sources
    ]
    body = b"\n".join(parts)
    return Bundle(name, body, _hash(body))


_served: dict[tuple[str, str], str] = {}
_bundles: dict[tuple[str, str], Bundle] = {}


def bundle(name: str) -> Bundle | None:
    """The bundle called `name`, built once per worker (re-read on change while debugging)."""
    sources = BUNDLES.get(name)
    if sources is None:
        return None
    key = (current_app.static_folder, name)
    if not current_app.debug and key in _bundles:
        return _bundles[key]
    static = Path(current_app.static_folder)
    stamped = tuple((static / src, src, (static / src).stat().st_mtime_ns) for src in sources)
    _bundles[key] = built = _join(name, stamped)
    return built


def digest_for(filename: str) -> str:
    """The content hash of a static file or bundle; re-read on change only while debugging."""
    key = (current_app.static_folder, filename)
    if not current_app.debug and key in _served:
        return _served[key]
    joined = bundle(filename)
    if joined is not None:
        digest = joined.digest
    else:
        path = Path(current_app.static_folder) / filename
        digest = _digest(path, path.stat().st_mtime_ns)
    _served[key] = digest
    return digest


def asset_url(filename: str) -> str:
    """The versioned URL of a file under static/ or of a bundle."""
    stem, dot, ext = filename.rpartition(".")
    return url_for("static", filename=f"{stem}.{digest_for(filename)}{dot}{ext}")


YEAR = 365 * 24 * 3600


def _cache_for(response, fresh: bool):
    # Immutable only when the name's hash is this content's. A name from another
    # deploy (a page saved before it, or a rolling restart's other half) still gets
    # the current content, but one the browser must revalidate, never keep for a year.
    if fresh:
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = YEAR
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response


def _send_bundle(built: Bundle, digest: str):
    ext = Path(built.name).suffix
    response = current_app.response_class(built.body, mimetype=MIMETYPES.get(ext, "text/plain"))
    response.set_etag(built.digest)
    _cache_for(response, digest == built.digest)
    return response.make_conditional(request)


def install(app) -> None:
    """Serve versioned names (files and bundles) from static/ with an immutable, year-long cache."""
    from flask import send_from_directory

    def static(filename: str):
        match = HASHED.match(filename)
        folder = app.static_folder
        if match is not None:
            real = match["stem"] + match["ext"]
            joined = bundle(real)
            if joined is not None:
                return _send_bundle(joined, match["digest"])
            if (Path(folder) / real).is_file():
                fresh = match["digest"] == digest_for(real)
                response = send_from_directory(folder, real, max_age=YEAR if fresh else None)
                return _cache_for(response, fresh)
        return send_from_directory(folder, filename)

    app.view_functions["static"] = static
