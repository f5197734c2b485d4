"""How goal progress is measured: units and plausible ranges, validated per measure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str  # shown after a number: "20 minutes"
    minimum: Decimal
    maximum: Decimal
    example: str  # "Enter a number of minutes, like 20"
    whole: bool = True  # only whole numbers make sense
    numeric: bool = True
    daily: str = "sum"  # how several entries on one day combine: "sum" or "mean"
    lower_is_better: bool = False  # blood pressure: under the target is on target

    def describe(self, value: Decimal | None) -> str:
        if not self.numeric or value is None:
            return ""
        return f"{number(value)} {self.unit}".strip()

    def meets(self, value: Decimal | None, target: Decimal | None) -> bool:
        """Whether a day's (or week's) value is on target."""
        if value is None or target is None:
            return False
        return value <= target if self.lower_is_better else value >= target


def number(value: Decimal | float | int) -> str:
    """12, 7.5, 0.25: a number as people write it (no trailing zeros, no exponent)."""
    text = f"{Decimal(value).quantize(Decimal('0.01')).normalize():f}"
    return text


def measure_for(key: str) -> Measure:
    """The measure for a key; an unknown key (old data) counts as done / not done."""
    return MEASURES.get(key, MEASURES["done"])


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("done", "Done or not done", "", Decimal(0), Decimal(1), "", numeric=False),
        Measure(
            "steps", "Steps", "steps", Decimal(0), Decimal(100000), "a number of steps, like 4000"
        ),
        Measure(
            "minutes",
            "Minutes",
            "minutes",
            Decimal(0),
            Decimal(1440),
            "a number of minutes, like 20",
        ),
        Measure(
            "servings",
            "Servings",
            "servings",
            Decimal(0),
            Decimal(50),
            "a number of servings, like 5",
        ),
        Measure(
            "sleep_hours",
            "Hours of sleep",
            "hours",
            Decimal(0),
            Decimal(24),
            "a number of hours, like 7.5",
            whole=False,
            daily="mean",
        ),
        Measure(
            "mood",
            "Mood from 1 to 5",
            "out of 5",
            Decimal(1),
            Decimal(5),
            "a number from 1 to 5",
            daily="mean",
        ),
        Measure(
            "systolic_bp",
            "Blood pressure (top number)",
            "mmHg",
            Decimal(60),
            Decimal(260),
            "the top number of your blood pressure, like 128",
            daily="mean",
            lower_is_better=True,
        ),
        Measure("count", "Times", "times", Decimal(0), Decimal(1000), "a number of times, like 3"),
    )
}
