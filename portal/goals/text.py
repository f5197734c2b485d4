"""Showing people's words safely: escaped text with clickable links, and waiting times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}"


def linkify(text: str | None) -> Markup:
    """Escape everything; turn http(s) links into links that open safely. Keeps line breaks."""
    if not text:
        return Markup("")
    out: list[str] = []
    position = 0
    for match in URL.finditer(text):
        url = match.group(0)
        stripped = url.rstrip(TRAILING)
        end = match.start() + len(stripped)
        out.append(str(escape(text[position : match.start()])))
        href = escape(stripped)
        out.append(f'<a href="{href}" rel="nofollow noopener noreferrer">{href}</a>')
        position = end
    out.append(str(escape(text[position:])))
    html = "".join(out).replace("\n", "<br>\n")
    return Markup(html)  # noqa: S704  (every piece above is escaped)


def waited(since: datetime | None, now: datetime | None = None) -> str:
    """'Waiting 3 hours': how long something has waited, in words.

    A number and an English unit, nothing else: safe in HTML as it is (the
    inbox's `waited` slot writes it unescaped).
    """
    if since is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    if seconds < 3600:
        minutes = max(1, seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 2 * 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = seconds // 86400
    return f"{days} days"
