"""Progress charts as server-rendered SVG: readable offline, styled only by classes.

The page's CSP allows no inline styles, so the SVG uses classes (styled in
static/css/goals.css) and presentation attributes only. Every chart comes with
a sentence that says the same thing for people who cannot see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape

from portal.goals import progress as calc
from portal.goals.measures import Measure, number
from portal.goals.models import Frequency
from portal.when import format_day_month

WIDTH, HEIGHT = 340, 190
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 20, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Chart:
    svg: Markup
    summary: str


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    value: Decimal | None
    met: bool
    logged: bool


def _bars(measure: Measure, target, frequency: Frequency, prog: calc.Progress) -> list[Bar]:
    if frequency is Frequency.WEEKLY:
        bars = []
        for start in calc.chart_weeks(prog.today):
            week = calc.week(measure, target, prog.days, start)
            value = week.value if measure.numeric else Decimal(week.days_done)
            bars.append(
                Bar(
                    str(start.day),  # the axis shows the day; the month is in what is read out
                    f"week of {format_day_month(start, 'long')}",
                    value,
                    week.met,
                    week.days_done > 0,
                )
            )
        return bars
    bars = []
    for day in calc.chart_days(prog.today):
        entry = prog.days.get(day)
        value = entry.value if entry else None
        if not measure.numeric:
            value = Decimal(1) if entry and entry.done else None
        bars.append(
            Bar(
                str(day.day),
                format_day_month(day, "weekday"),
                value,
                calc.day_met(measure, target, entry),
                entry is not None,
            )
        )
    return bars


def _scale_max(measure: Measure, target, bars: list[Bar], frequency: Frequency) -> Decimal:
    if not measure.numeric:
        return Decimal(int(target or 1)) if frequency is Frequency.WEEKLY else Decimal(1)
    values = [b.value for b in bars if b.value is not None]
    if target is not None:
        values.append(Decimal(target))
    top = max(values, default=Decimal(0))
    if top <= 0:
        return Decimal(1)
    return top * Decimal("1.15")


def render(
    goal_id: int,
    measure: Measure,
    target: Decimal | None,
    frequency: Frequency,
    prog: calc.Progress,
) -> Chart:
    """The chart of the last 14 days (or 8 weeks) with the target drawn in."""
    bars = _bars(measure, target, frequency, prog)
    top = _scale_max(measure, target, bars, frequency)
    summary = _summary(measure, target, frequency, bars)
    slot = PLOT_W / len(bars)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" focusable="false" '
        f'aria-labelledby="chart-title-{goal_id} chart-desc-{goal_id}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title-{goal_id}">{escape(_title(measure, frequency))}</title>',
        f'<desc id="chart-desc-{goal_id}">{escape(summary)}</desc>',
        f'<line class="chart__axis" x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + PLOT_H}" stroke="currentColor"/>',
        f'<line class="chart__axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" '
        'stroke="currentColor"/>',
    ]
    parts += _y_labels(measure, top, frequency)
    for i, bar in enumerate(bars):
        parts += _bar(i, bar, slot, top, measure)
    if target is not None and (measure.numeric or frequency is Frequency.WEEKLY):
        y = _y(Decimal(target), top)
        parts.append(
            f'<line class="chart__target" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
            f'y2="{y:.1f}" stroke-dasharray="6 4" stroke-width="2"/>'
        )
        # The legend sits above the plot, so it never covers a bar or its tick.
        parts.append(
            f'<line class="chart__target" x1="{WIDTH - RIGHT - 96}" y1="{TOP - 7}" '
            f'x2="{WIDTH - RIGHT - 78}" y2="{TOP - 7}" stroke-dasharray="6 4" stroke-width="2"/>'
            f'<text class="chart__target-label" x="{WIDTH - RIGHT}" y="{TOP - 3}" '
            f'text-anchor="end">Target {escape(number(target))}</text>'
        )
    x_title = "Week starting" if frequency is Frequency.WEEKLY else "Day of the month"
    parts.append(
        f'<text class="chart__axis-title" x="{LEFT + PLOT_W / 2:.0f}" y="{HEIGHT - 4}" '
        f'text-anchor="middle">{x_title}</text>'
    )
    parts.append("</svg>")
    return Chart(Markup("".join(parts)), summary)  # noqa: S704  (built from escaped parts)


def _y(value: Decimal, top: Decimal) -> float:
    return TOP + PLOT_H - float(value / top) * PLOT_H


def _y_labels(measure: Measure, top: Decimal, frequency: Frequency) -> list[str]:
    if not measure.numeric and frequency is Frequency.DAILY:
        return [
            f'<text class="chart__label" x="{LEFT - 4}" y="{TOP + 10}" '
            'text-anchor="end">Done</text>'
        ]
    unit = measure.unit if measure.numeric else "days"
    step = top / Decimal("1.15") if measure.numeric else top
    out = []
    for value in (Decimal(0), step):
        y = _y(value, top)
        out.append(
            f'<text class="chart__label" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(number(value))}</text>"
        )
    out.append(
        f'<text class="chart__axis-title" x="4" y="{TOP - 4}" text-anchor="start">'
        f"{escape(unit)}</text>"
    )
    return out


def _bar(i: int, bar: Bar, slot: float, top: Decimal, measure: Measure) -> list[str]:
    x = LEFT + i * slot + slot * 0.15
    width = slot * 0.7
    center = LEFT + i * slot + slot / 2
    label_every = 1 if slot >= 18 else 2
    out = []
    if bar.value is not None and bar.value > 0:
        y = _y(min(bar.value, top), top)
        height = TOP + PLOT_H - y
        css = "chart__bar chart__bar--met" if bar.met else "chart__bar"
        text = _bar_text(bar, measure)
        out.append(
            f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{max(height, 1):.1f}" rx="2"><title>{escape(text)}</title></rect>'
        )
        if bar.met:  # colour is never the only signal: a tick marks days on target
            out.append(
                f'<text class="chart__tick" x="{center:.1f}" y="{max(y - 3, TOP + 9):.1f}" '
                f'text-anchor="middle" aria-hidden="true">✓</text>'
            )
    elif not bar.logged:
        out.append(
            f'<circle class="chart__missing" cx="{center:.1f}" cy="{TOP + PLOT_H - 4}" r="2"/>'
        )
    if i % label_every == 0:
        out.append(
            f'<text class="chart__label" x="{center:.1f}" y="{TOP + PLOT_H + 14}" '
            f'text-anchor="middle">{escape(bar.label)}</text>'
        )
    return out


def _bar_text(bar: Bar, measure: Measure) -> str:
    if not measure.numeric:
        return f"{bar.full_label}: done"
    return f"{bar.full_label}: {measure.describe(bar.value)}"


def _title(measure: Measure, frequency: Frequency) -> str:
    if frequency is Frequency.WEEKLY:
        return "Progress over the last 8 weeks"
    return "Progress over the last 14 days"


def _summary(measure: Measure, target, frequency: Frequency, bars: list[Bar]) -> str:
    span = "8 weeks" if frequency is Frequency.WEEKLY else "14 days"
    unit = "weeks" if frequency is Frequency.WEEKLY else "days"
    logged = [b for b in bars if b.logged]
    if not logged:
        return f"Nothing logged in the last {span} yet."
    met = sum(1 for b in bars if b.met)
    text = f"In the last {span}: logged on {len(logged)} {unit}"
    if measure.numeric and target is not None:
        text += f", on target on {met}"
    elif not measure.numeric:
        text += f", done on {met}"
    text += "."
    values = [b.value for b in logged if b.value is not None]
    if measure.numeric and values:
        average = sum(values, Decimal(0)) / len(values)
        step = Decimal(1) if measure.whole else Decimal("0.1")
        average = average.quantize(step, rounding=ROUND_HALF_UP)
        text += f" Average: {measure.describe(average)} a {unit[:-1]}."
        best = max(values) if not measure.lower_is_better else min(values)
        text += f" Best: {measure.describe(best)}."
    if target is not None and measure.numeric:
        text += f" Target: {measure.describe(Decimal(target))} a {unit[:-1]}."
    return text
