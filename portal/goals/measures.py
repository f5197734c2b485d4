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

    def describe(self, value: Decimal | None) -> str:
        if not self.numeric or value is None:
            return ""
        text = f"{value.normalize():f}"
        return f"{text} {self.unit}".strip()


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
        ),
        Measure(
            "mood", "Mood from 1 to 5", "out of 5", Decimal(1), Decimal(5), "a number from 1 to 5"
        ),
        Measure(
            "systolic_bp",
            "Blood pressure (top number)",
            "mmHg",
            Decimal(60),
            Decimal(260),
            "the top number of your blood pressure, like 128",
        ),
        Measure("count", "Times", "times", Decimal(0), Decimal(1000), "a number of times, like 3"),
    )
}
