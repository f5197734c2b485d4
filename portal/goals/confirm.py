"""Confirmations beside the form: "Saved: 25 minutes today. On target 2 of 4 days this week."

Logging progress answers next to the form that was used (on the home
screen, the goal list or the goal page), in a live region the page focuses,
the same with and without JavaScript (the web app's script swaps in the page
the form post redirects to). Only the goal and the day travel with the
redirect (portal/notices.py); the words come from the page's own progress.
"""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

from portal import notices
from portal.goals.measures import Measure
from portal.goals.progress import Progress
from portal.when import format_date


def spot(goal_id: int) -> str:
    """The id of a goal's confirmation region (and the redirect's #fragment)."""
    return f"saved-{goal_id}"


def saved_entry(goal_id: int, day: date, *, again: bool = False) -> None:
    """Confirm a logged (or changed) entry beside the goal's form on the next page."""
    fallback = "That was already saved." if again else "Saved. Well done for logging it."
    notices.place(spot(goal_id), day=day.isoformat(), again=again, fallback=fallback)


def _when(day: date, today: date) -> str:
    if day == today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    return f"for {format_date(day)}"


def words(notice: dict, measure: Measure, progress: Progress) -> str:
    """The confirmation: what the day now holds, and this week against the target."""
    if notice.get("again"):
        return f"That was already saved. {progress.week_text}."
    try:
        day = date.fromisoformat(str(notice.get("day")))
    except ValueError:
        return f"Saved. {progress.week_text}."
    logged = progress.days.get(day)
    if logged is not None and measure.numeric and logged.value is not None:
        what = measure.describe(logged.value)
    elif logged is not None and logged.done:
        what = "done"
    else:
        what = "not done" if not measure.numeric else "your entry"
    return f"Saved: {what} {_when(day, progress.today)}. {progress.week_text}."


def saved_note(goal, measure: Measure, progress: Progress) -> Markup:
    """The goal's confirmation region: empty (for the script) unless a save just landed here."""
    notice = notices.placed(spot(goal.id))
    region = f'class="saved-note" id="{spot(goal.id)}" role="status" tabindex="-1" data-saved-note'
    if notice is None:
        return Markup(f"<div {region}></div>")  # noqa: S704 (no user text)
    text = escape(words(notice, measure, progress))
    return Markup(  # noqa: S704 (text escaped above)
        f'<div {region} autofocus><span class="saved-note__mark" aria-hidden="true">✓</span> '
        f"{text}</div>"
    )


def sent_spot(goal_id: int) -> str:
    return f"sent-{goal_id}"


def sent_message(goal_id: int, *, to_team: bool, moved_on: bool = False) -> None:
    """Confirm a sent message by the reply box of the goal page shown next."""
    if moved_on:
        text = "Sent. This is the next goal waiting for a reply."
    elif to_team:
        text = "Sent. Your care team will see it."
    else:
        text = "Sent. The patient will be told."
    notices.place(sent_spot(goal_id), text=text, fallback=text)


def sent_note(goal) -> Markup:
    """The thread's confirmation region, just above the reply box."""
    notice = notices.placed(sent_spot(goal.id))
    region = f'class="saved-note" id="{sent_spot(goal.id)}" role="status" tabindex="-1"'
    if notice is None:
        return Markup(f"<div {region}></div>")  # noqa: S704 (no user text)
    return Markup(  # noqa: S704 (escaped)
        f'<div {region} autofocus><span class="saved-note__mark" aria-hidden="true">✓</span> '
        f"{escape(notice.get('text', 'Sent.'))}</div>"
    )
