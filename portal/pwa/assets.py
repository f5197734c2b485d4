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

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import current_app, request, url_for
from werkzeug.security import safe_join

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
class Text:
    """A stylesheet or script held in memory: its bytes, gzipped once, and their hash."""

    name: str
    body: bytes
    gzipped: bytes
    digest: str


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:10]


@cache
def _digest(path: Path, mtime_ns: int) -> str:
    return _hash(path.read_bytes())


@cache
def _load(name: str, sources: tuple[tuple[Path, str, int], ...]) -> Text:
    if name in BUNDLES:
        # Each part is headed by its source's name, so a rule seen in the
        # browser's inspector leads back to the file to edit.
        body = b"\n".join(
            f"/* {label} */\n".encode() + path.read_bytes().rstrip() + b"\n"
            for path, label, _ in sources
        )
    else:
        body = sources[0][0].read_bytes()
    # Compressed here, not left to a proxy: many (nginx's default) compress HTML
    # only, and a phone's first paint waits for this stylesheet. mtime=0 keeps the
    # bytes the same in every worker. HTML is not compressed: it carries the CSRF
    # token next to what the user typed, which BREACH could read out of the length.
    return Text(name, body, gzip.compress(body, compresslevel=9, mtime=0), _hash(body))


_served: dict[tuple[str, str], str] = {}
_texts: dict[tuple[str, str], Text] = {}


def canonical(name: str) -> bool:
    """True for a plain relative path inside static/ (no `..`, `//` or `./`), one key per file."""
    return safe_join(".", name) == f"./{name}"


def text(name: str) -> Text | None:
    """The bundle or .css/.js file `name`, read once per worker; None for other names."""
    key = (current_app.static_folder, name)
    if not current_app.debug and key in _texts:
        return _texts[key]
    folder = current_app.static_folder
    if name in BUNDLES:
        paths = [(Path(folder) / src, src) for src in BUNDLES[name]]
    else:
        path = Path(folder) / name
        if Path(name).suffix not in MIMETYPES or not canonical(name) or not path.is_file():
            return None
        paths = [(path, name)]
    stamped = tuple((path, label, path.stat().st_mtime_ns) for path, label in paths)
    _texts[key] = loaded = _load(name, stamped)
    return loaded


def digest_for(filename: str) -> str:
    """The content hash of a static file or bundle; re-read on change only while debugging."""
    key = (current_app.static_folder, filename)
    if not current_app.debug and key in _served:
        return _served[key]
    loaded = text(filename)
    if loaded is not None:
        digest = loaded.digest
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


def _send_text(loaded: Text, digest: str):
    gzipped = request.accept_encodings["gzip"] > 0
    body = loaded.gzipped if gzipped else loaded.body
    mimetype = MIMETYPES[Path(loaded.name).suffix]
    response = current_app.response_class(body, mimetype=mimetype)
    if gzipped:
        response.content_encoding = "gzip"
    response.vary.add("Accept-Encoding")
    # Each encoding is its own representation, so each has its own strong ETag.
    response.set_etag(loaded.digest + ("-gzip" if gzipped else ""))
    _cache_for(response, digest == loaded.digest)
    return response.make_conditional(request)


def install(app) -> None:
    """Serve versioned names from static/ with an immutable, year-long cache.

    Stylesheets, scripts and bundles come from memory, gzipped for clients that
    accept it; other files (icons) from disk.
    """
    from flask import send_from_directory

    def static(filename: str):
        match = HASHED.match(filename)
        folder = app.static_folder
        real = match and match["stem"] + match["ext"]
        # Other names (unversioned, or spelled with `..`) go to send_from_directory,
        # which refuses any path outside static/.
        if real and canonical(real):
            loaded = text(real)
            if loaded is not None:
                return _send_text(loaded, match["digest"])
            if (Path(folder) / real).is_file():
                fresh = match["digest"] == digest_for(real)
                response = send_from_directory(folder, real, max_age=YEAR if fresh else None)
                return _cache_for(response, fresh)
        return send_from_directory(folder, filename)

    app.view_functions["static"] = static
