"""Goal rules without the web: checking values, progress arithmetic, charts, safe text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from portal.goals import inputs
from portal.goals import progress as calc
from portal.goals.chart import render
from portal.goals.measures import MEASURES
from portal.goals.models import Achievement, Frequency
from portal.goals.text import linkify, waited

TODAY = date(2026, 11, 26)  # a Thursday


def check(measure: str, **data):
    return inputs.entry(MEASURES[measure], data, TODAY)


def problems(measure: str, **data) -> dict[str, str]:
    with pytest.raises(inputs.Invalid) as caught:
        check(measure, **data)
    return caught.value.fields


def test_a_good_entry_defaults_to_today():
    values = check("minutes", value="25", feeling="4", note="  To the park  ")
    assert values == inputs.EntryValues(TODAY, Decimal("25.00"), None, "To the park", 4)


@pytest.mark.parametrize(
    ("measure", "value", "message"),
    [
        ("minutes", "twenty", "Enter a number of minutes, like 20"),
        ("minutes", "2000", "Enter a number of minutes between 0 and 1440"),
        ("minutes", "-5", "Enter a number of minutes between 0 and 1440"),
        ("minutes", "20.5", "Enter a whole number of minutes, like 20"),
        ("steps", "NaN", "Enter a number of steps, like 4000"),
        ("steps", "1e400", "Enter a number of steps between 0 and 100000"),
        ("mood", "6", "Enter a number from 1 to 5"),
        ("systolic_bp", "30", "Enter the top number of your blood pressure between 60 and 260"),
        ("sleep_hours", "25", "Enter a number of hours between 0 and 24"),
    ],
)
def test_bad_values_get_a_plain_message(measure, value, message):
    assert problems(measure, value=value) == {"value": message}


def test_values_that_people_write_are_understood():
    assert check("sleep_hours", value="7,5").value == Decimal("7.50")
    assert check("sleep_hours", value=7.25).value == Decimal("7.25")
    assert check("steps", value=" 4000 ").value == Decimal(4000)


def test_a_number_is_needed_unless_done_is_said():
    assert problems("minutes") == {"value": "Enter a number of minutes, like 20"}
    assert check("minutes", done=True).done is True
    assert problems("minutes", value=True) == {"value": "Enter a number of minutes, like 20"}


def test_done_goals_take_done_not_a_number():
    assert check("done", done="1").done is True
    assert check("done", done=False).done is False
    assert problems("done") == {"done": "Choose done or not done"}
    assert problems("done", done="maybe") == {"done": "Choose done or not done"}
    assert "not as a number" in problems("done", value="3", done="1")["value"]


def test_backdating_up_to_thirty_days_and_not_the_future():
    assert check("minutes", value=5, entry_date="2026-10-27").entry_date == date(2026, 10, 27)
    assert "30 days back" in problems("minutes", value=5, entry_date="2026-10-26")["entry_date"]
    assert "hasn't happened" in problems("minutes", value=5, entry_date="2026-11-27")["entry_date"]
    assert problems("minutes", value=5, entry_date="26/11/2026") == {
        "entry_date": "Enter the date like 2026-11-26"
    }


def test_feeling_and_note_are_checked_together_with_the_value():
    fields = problems("minutes", value="x", feeling="9", note="n" * 1001)
    assert set(fields) == {"value", "feeling", "note"}
    assert fields["feeling"] == "Choose how you feel from 1 to 5"
    assert problems("minutes", value=5, feeling=True) == {
        "feeling": "Choose how you feel from 1 to 5"
    }


@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 65, None, 12345678, "ü" * 10])
def test_idempotency_keys_must_be_sensible(key):
    with pytest.raises(inputs.Invalid):
        inputs.idempotency_key(key)


def test_idempotency_keys_accept_uuids():
    key = "0b6a3a56-6f57-4a5e-9f0e-8c1f2d3e4a5b"
    assert inputs.idempotency_key(key) == key


def test_goal_fields():
    values = inputs.goal(
        {"title": " Walk ", "measure": "minutes", "target_value": "30", "frequency": "daily"},
        TODAY,
    )
    assert values["title"] == "Walk" and values["target_value"] == Decimal("30.00")
    with pytest.raises(inputs.Invalid) as caught:
        inputs.goal(
            {
                "title": "",
                "measure": "feet",
                "category": "x",
                "frequency": "hourly",
                "due_on": "2020-01-01",
            },
            TODAY,
        )
    assert set(caught.value.fields) == {"title", "measure", "category", "frequency", "due_on"}
    with pytest.raises(inputs.Invalid) as caught:
        inputs.goal({"title": "Walk", "measure": "minutes"}, TODAY, measure_locked="steps")
    assert "can't change" in caught.value.fields["measure"]
    weekly = inputs.goal(
        {"title": "Call", "measure": "done", "frequency": "weekly", "target_value": "2"}, TODAY
    )
    assert weekly["target_value"] == 2


def rows(*days: tuple[int, int | None, bool | None]):
    """(days ago, value, done) -> entry rows."""
    return [(TODAY - timedelta(days=ago), value, done) for ago, value, done in days]


def test_this_week_and_streak_for_a_daily_goal():
    minutes = MEASURES["minutes"]
    # Monday 23rd .. Thursday 26th: 30, 10, 35, (today not logged yet); last Sunday 30.
    prog = calc.compute(
        minutes,
        Decimal(30),
        Frequency.DAILY,
        rows((4, 30, None), (3, 30, None), (2, 10, None), (1, 35, None)),
        TODAY,
    )
    assert prog.week_text == "On target 2 of 4 days so far this week"
    assert prog.streak == 1  # yesterday on target; today is not over
    assert prog.logged_today is None
    two = calc.compute(
        minutes, Decimal(30), Frequency.DAILY, rows((0, 20, None), (0, 15, None)), TODAY
    )
    assert two.logged_today.value == Decimal(35)  # entries on one day add up
    assert two.streak == 1


def test_weekly_done_goal_counts_days():
    done = MEASURES["done"]
    prog = calc.compute(done, Decimal(2), Frequency.WEEKLY, rows((0, None, True)), TODAY)
    assert prog.week_text == "Done 1 of 2 times this week"
    prog = calc.compute(
        done,
        Decimal(2),
        Frequency.WEEKLY,
        rows((0, None, True), (1, None, True), (7, None, True), (8, None, True)),
        TODAY,
    )
    assert prog.streak == 2 and prog.streak_text == "2 weeks in a row"


def test_blood_pressure_is_better_lower():
    bp = MEASURES["systolic_bp"]
    days = calc.by_day(
        bp, rows(*[(i, 150, None) for i in range(7, 14)], *[(i, 135, None) for i in range(7)])
    )
    assert calc.achievement(bp, Decimal(130), Frequency.DAILY, days, TODAY) is Achievement.IMPROVING
    days = calc.by_day(bp, rows(*[(i, 128, None) for i in range(7)]))
    assert calc.achievement(bp, Decimal(130), Frequency.DAILY, days, TODAY) is Achievement.ACHIEVED


def test_achievement_follows_the_entries():
    minutes = MEASURES["minutes"]

    def status(recent: int, before: int | None):
        data = [(i, recent, None) for i in range(7)]
        if before is not None:
            data += [(i, before, None) for i in range(7, 14)]
        days = calc.by_day(minutes, rows(*data))
        return calc.achievement(minutes, Decimal(30), Frequency.DAILY, days, TODAY)

    assert status(20, None) is Achievement.IN_PROGRESS
    assert status(20, 10) is Achievement.IMPROVING
    assert status(10, 20) is Achievement.WORSENING
    assert status(20, 20) is Achievement.NO_CHANGE
    assert status(31, 10) is Achievement.ACHIEVED
    empty = calc.achievement(minutes, Decimal(30), Frequency.DAILY, {}, TODAY)
    assert empty is Achievement.IN_PROGRESS


def test_chart_is_class_styled_svg_with_a_text_summary():
    minutes = MEASURES["minutes"]
    prog = calc.compute(
        minutes, Decimal(30), Frequency.DAILY, rows((0, 35, None), (1, 20, None)), TODAY
    )
    chart = render(7, minutes, Decimal(30), Frequency.DAILY, prog)
    svg = str(chart.svg)
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "style=" not in svg  # the CSP allows no inline styles
    assert 'aria-labelledby="chart-title-7 chart-desc-7"' in svg
    assert "chart__bar--met" in svg and "chart__target" in svg and "Target 30" in svg
    assert chart.summary == (
        "In the last 14 days: logged on 2 days, on target on 1. Average: 28 minutes a day. "
        "Best: 35 minutes. Target: 30 minutes a day."
    )
    nothing = calc.compute(minutes, None, Frequency.DAILY, [], TODAY)
    assert render(7, minutes, None, Frequency.DAILY, nothing).summary == (
        "Nothing logged in the last 14 days yet."
    )


def test_linkify_escapes_and_links_only_http():
    html = str(linkify("<b>hi</b> see https://example.org/a?b=1&c=2. and javascript:alert(1)\nok"))
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">' in html
    assert "</a>." in html  # the full stop stays outside the link
    assert 'href="javascript' not in html
    assert "<br>" in html
    attack = str(linkify('https://x.org/"onmouseover="alert(1)'))
    assert 'href="https://x.org/"' in attack and "onmouseover=" in attack.split("</a>")[1]


def test_waited_says_how_long():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert waited(now - timedelta(minutes=5), now) == "5 minutes"
    assert waited(now - timedelta(hours=3), now) == "3 hours"
    assert waited(now - timedelta(days=4), now) == "4 days"


def test_entries_on_one_day_add_up_or_average_in_the_database(demo, app):
    """Minutes add up; mood averages; deleted entries do not count."""
    import uuid
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import select

    from portal.access import resolve
    from portal.auth.models import User
    from portal.extensions import db
    from portal.goals import entries, reading
    from portal.goals.models import Goal

    with app.app_context():
        alex = db.session.get(User, demo.users["alex@example.com"])
        access = resolve(alex, demo.alex)
        walk = db.session.scalar(
            select(Goal).where(Goal.patient_id == demo.alex, Goal.measure == "minutes")
        )
        mood = db.session.scalar(
            select(Goal).where(Goal.patient_id == demo.alex, Goal.measure == "mood")
        )
        day = reading.patient_today(access) - timedelta(days=28)  # before the demo's history

        def on_day(rows, goal):
            return [row for row in rows[goal.id] if row[0] == day]

        before = reading.entry_rows([walk, mood], day)
        assert on_day(before, walk) == on_day(before, mood) == []
        for goal, value in [(walk, "10"), (walk, "15"), (mood, "2"), (mood, "4"), (mood, "5")]:
            entries.add_entry(
                access, goal.id, {"value": value, "entry_date": day.isoformat()}, str(uuid.uuid4())
            )
        db.session.flush()
        last = entries.add_entry(
            access, mood.id, {"value": "1", "entry_date": day.isoformat()}, str(uuid.uuid4())
        )[0]
        entries.delete_entry(access, mood.id, last.id)
        rows = reading.entry_rows([walk, mood], day)
        assert on_day(rows, walk) == [(day, Decimal(25), False)]
        assert on_day(rows, mood) == [(day, Decimal(11) / 3, False)]
        db.session.rollback()
