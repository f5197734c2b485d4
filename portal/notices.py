"""Notices placed where the person is looking: "Saved" beside the form, "Sent" by the reply box.

A view that wants its confirmation next to a form calls `place(at, ...)`
instead of `flash(message)`: it travels with the redirect as a flashed
message of the category "placed" (so the next page is rendered afresh, never
kept: see portal/pagecache.py), and the page that has the spot named `at`
shows it there with `placed(at)`. A placed notice the page had no spot for
falls back to base.html's list at the top, so nothing is ever lost.

Only ids and dates travel in the session, never health information: the
page works out the words ("Saved: 25 minutes today.") from its own data.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, flash, g, get_flashed_messages

CATEGORY = "placed"


def place(at: str, **data: Any) -> None:
    """Show a notice at the spot `at` of the next page (with `data` for its words)."""
    flash({"at": at, **data}, CATEGORY)


def placed(at: str) -> dict[str, Any] | None:
    """The newest notice waiting for the spot `at`, if any; it then is not repeated at the top."""
    for category, message in reversed(get_flashed_messages(with_categories=True)):
        if category == CATEGORY and isinstance(message, dict) and message.get("at") == at:
            g.setdefault("placed_notices", set()).add(at)
            return message
    return None


def unplaced() -> list[dict[str, Any]]:
    """Placed notices this page had no spot for (call after rendering the content)."""
    shown = g.get("placed_notices", set())
    return [
        message
        for category, message in get_flashed_messages(with_categories=True)
        if category == CATEGORY and isinstance(message, dict) and message.get("at") not in shown
    ]


def install(app: Flask) -> None:
    app.jinja_env.globals.update(placed=placed, unplaced_notices=unplaced)
