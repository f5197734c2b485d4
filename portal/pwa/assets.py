"""Versioned static asset URLs: the file's content hash is in its name.

`asset_url("css/app.css")` gives `/static/css/app.3f2a9c1b.css`; the static
route serves that name from `static/css/app.css` with a year-long immutable
cache. A new deploy changes the name, so no page is ever stuck on old assets.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from flask import current_app, url_for

HASHED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})(?P<ext>\.[A-Za-z0-9]+)$")


@cache
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


_served: dict[str, str] = {}


def digest_for(filename: str) -> str:
    """The content hash of a static file; re-read on change only while debugging."""
    if not current_app.debug and filename in _served:
        return _served[filename]
    path = Path(current_app.static_folder) / filename
    _served[filename] = digest = _digest(path, path.stat().st_mtime_ns)
    return digest


def asset_url(filename: str) -> str:
    """The versioned URL of a file under static/."""
    stem, dot, ext = filename.rpartition(".")
    return url_for("static", filename=f"{stem}.{digest_for(filename)}{dot}{ext}")


def unversioned(filename: str) -> str | None:
    """Map a versioned name back to the real file name, or None if it is not versioned."""
    match = HASHED.match(filename)
    if match is None:
        return None
    return match["stem"] + match["ext"]


YEAR = 365 * 24 * 3600


def install(app) -> None:
    """Serve versioned names from static/ with an immutable, year-long cache."""
    from flask import send_from_directory

    def static(filename: str):
        real = unversioned(filename)
        folder = app.static_folder
        if real is not None and (Path(folder) / real).is_file():
            response = send_from_directory(folder, real, max_age=YEAR)
            response.cache_control.immutable = True
            return response
        return send_from_directory(folder, filename)

    app.view_functions["static"] = static
