"""Progress arithmetic: days, this week against the target, streaks, achievement.

Pure functions over (entry_date, value, done) rows, so the goal page, the home
screen and the API compute the same facts, and tests need no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from portal.goals.measures import Measure, number
from portal.goals.models import Achievement, Frequency

CHART_DAYS = 14
CHART_WEEKS = 8
HISTORY_DAYS = 120  # how far back streaks look


@dataclass(frozen=True)
class Day:
    day: date
    value: Decimal | None  # the day's total (or average, for sleep, mood, blood pressure)
    done: bool
    logged: bool


@dataclass(frozen=True)
class Week:
    start: date
    value: Decimal | None
    days_done: int
    met: bool


@dataclass(frozen=True)
class Progress:
    """The facts every view of a goal shows."""

    days: dict[date, Day]
    today: date
    week_text: str  # "On target 3 of 4 days so far this week"
    week_met: int
    week_goal: int
    streak: int
    streak_unit: str  # "day" or "week"
    logged_today: Day | None

    @property
    def streak_text(self) -> str:
        if not self.streak:
            return "No streak yet"
        plural = "s" if self.streak != 1 else ""
        more = "+" if self.streak_unit == "day" and self.streak >= HISTORY_DAYS else ""
        return f"{self.streak}{more} {self.streak_unit}{plural} in a row"


def _combine(measure: Measure, values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    total = sum(values, Decimal(0))
    return total / len(values) if measure.daily == "mean" else total


def by_day(measure: Measure, rows: Iterable[tuple[date, Decimal | None, bool | None]]):
    """Entries grouped into days: several entries on one day add up (or average)."""
    values: dict[date, list[Decimal]] = defaultdict(list)
    done: dict[date, bool] = defaultdict(bool)
    for day, value, is_done in rows:
        done[day] = done[day] or bool(is_done)
        if value is not None:
            values[day].append(Decimal(value))
    return {day: Day(day, _combine(measure, values.get(day, [])), done[day], True) for day in done}


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # weeks start on Monday


def day_met(measure: Measure, target: Decimal | None, day: Day | None) -> bool:
    """Whether one day counts toward a daily goal (and its streak)."""
    if day is None:
        return False
    if not measure.numeric:
        return day.done
    if target is None:
        return day.value is not None or day.done
    return measure.meets(day.value, target) or (day.value is None and day.done)


def week(measure: Measure, target: Decimal | None, days: dict[date, Day], start: date) -> Week:
    """A week of a weekly goal: its total (or average) and whether it met the target."""
    span = [days.get(start + timedelta(days=i)) for i in range(7)]
    logged = [d for d in span if d is not None]
    days_done = sum(1 for d in logged if d.done or d.value is not None)
    if not measure.numeric:
        goal = int(target or 1)
        return Week(start, None, days_done, days_done >= goal)
    value = _combine(measure, [d.value for d in logged if d.value is not None])
    met = measure.meets(value, target) if target is not None else days_done > 0
    return Week(start, value, days_done, met)


def compute(
    measure: Measure,
    target: Decimal | None,
    frequency: Frequency,
    rows: Iterable[tuple[date, Decimal | None, bool | None]],
    today: date,
) -> Progress:
    """This week against the target, the current streak, and today's entry."""
    days = by_day(measure, rows)
    if frequency is Frequency.WEEKLY:
        this = week(measure, target, days, week_start(today))
        met, goal, text = _weekly_text(measure, target, this)
        streak = _week_streak(measure, target, days, today)
        unit = "week"
    else:
        met, goal, text = _daily_text(measure, target, days, today)
        streak = _day_streak(measure, target, days, today)
        unit = "day"
    return Progress(days, today, text, met, goal, streak, unit, days.get(today))


def _daily_text(measure, target, days, today) -> tuple[int, int, str]:
    start = week_start(today)
    elapsed = (today - start).days + 1
    met = sum(1 for i in range(elapsed) if day_met(measure, target, days.get(start + timedelta(i))))
    so_far = "so far this week" if elapsed < 7 else "this week"
    if measure.numeric and target is not None:
        return met, elapsed, f"On target {met} of {elapsed} days {so_far}"
    if not measure.numeric:
        return met, elapsed, f"Done {met} of {elapsed} days {so_far}"
    return met, elapsed, f"Logged {met} of {elapsed} days {so_far}"


def _weekly_text(measure, target, this: Week) -> tuple[int, int, str]:
    if not measure.numeric:
        goal = int(target or 1)
        times = "time" if goal == 1 else "times"
        return this.days_done, goal, f"Done {this.days_done} of {goal} {times} this week"
    value = this.value or Decimal(0)
    if target is None:
        return int(value), 0, f"This week: {measure.describe(value)}"
    word = "average" if measure.daily == "mean" else "so far"
    return (
        int(min(value, target)),
        int(target),
        f"This week {word}: {number(value)} of {measure.describe(target)}",
    )


def _day_streak(measure, target, days, today) -> int:
    # Today not logged yet does not break the streak: the day is not over.
    day = today if day_met(measure, target, days.get(today)) else today - timedelta(days=1)
    streak = 0
    while day_met(measure, target, days.get(day)) and streak < HISTORY_DAYS:
        streak += 1
        day -= timedelta(days=1)
    return streak


def _week_streak(measure, target, days, today) -> int:
    start = week_start(today)
    if not week(measure, target, days, start).met:
        start -= timedelta(days=7)
    streak = 0
    while week(measure, target, days, start).met and streak < HISTORY_DAYS // 7:
        streak += 1
        start -= timedelta(days=7)
    return streak


def achievement(
    measure: Measure,
    target: Decimal | None,
    frequency: Frequency,
    days: dict[date, Day],
    today: date,
) -> Achievement:
    """FHIR achievementStatus derived from the last two weeks of a measured goal."""
    recent = [
        d.value
        for i in range(7)
        if (d := days.get(today - timedelta(days=i))) and d.value is not None
    ]
    before = [
        d.value
        for i in range(7, 14)
        if (d := days.get(today - timedelta(days=i))) and d.value is not None
    ]
    if not recent:
        return Achievement.IN_PROGRESS
    if target is not None:
        if frequency is Frequency.WEEKLY:
            reached = measure.meets(_combine(measure, recent), target)
        else:
            reached = measure.meets(sum(recent, Decimal(0)) / len(recent), target)
        if reached:
            return Achievement.ACHIEVED
    if not before:
        return Achievement.IN_PROGRESS
    now = sum(recent, Decimal(0)) / len(recent)
    then = sum(before, Decimal(0)) / len(before)
    margin = max(abs(then) * Decimal("0.05"), Decimal("0.01"))
    change = (then - now) if measure.lower_is_better else (now - then)
    if change > margin:
        return Achievement.IMPROVING
    if change < -margin:
        return Achievement.WORSENING
    return Achievement.NO_CHANGE


def chart_days(today: date, count: int = CHART_DAYS) -> list[date]:
    return [today - timedelta(days=i) for i in range(count - 1, -1, -1)]


def chart_weeks(today: date, count: int = CHART_WEEKS) -> list[date]:
    start = week_start(today)
    return [start - timedelta(days=7 * i) for i in range(count - 1, -1, -1)]
