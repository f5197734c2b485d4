"""The access matrix: every route of the app, tried as every relation.

Each feature lists its routes in a `tests/routes_<feature>.py` module as
`ROUTES = [Case(...), ...]`. `tests/test_access_matrix.py` collects them,
checks that together they cover every rule in `app.url_map`, and requests each
one as each relation. A new route that nobody put in the matrix fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests import caregiver_rules

# Who makes the request.
RELATIONS = (
    "anonymous",
    "patient",
    "other_patient",
    "team",
    "off_team",
    "caregiver",
    "caregiver_expired",
    "admin",
)

# The demo account behind each relation; the patient is Alex unless a case says otherwise.
ACCOUNTS = {
    "anonymous": None,
    "patient": "alex@example.com",
    "other_patient": "blake@example.com",
    "team": "rivera@example.com",
    "off_team": "chen@example.com",
    "caregiver": "sam@example.com",  # Alex's grant: plan, goals, log, messages; no sensitive
    "caregiver_expired": "pat@example.com",  # Alex's grant ended last month
    "admin": "admin@example.com",
}

# Relations added by later features derive their expectation from a rule stated
# once here (deny by default), so a new relation need not edit every routes file;
# a case that differs says so in its own `expect`. relation -> rule(case) -> status.
DERIVED: dict[str, Callable[[Case], int]] = {
    "caregiver": caregiver_rules.with_grant(
        frozenset({"plan:read", "goals:read", "goals:log", "messages"})
    ),
    "caregiver_expired": caregiver_rules.without_grant,
    # An administrator relates to no patient and is no clinician: wherever another
    # patient (signed in, no relation to Alex, no clinic) is refused, so are they;
    # pages about one's own account answer them as anyone signed in.
    "admin": lambda case: case.expect["other_patient"],
}

LOGIN = 302  # an HTML page asks an anonymous visitor to sign in
HIDDEN = 404


def patient_page(**overrides: int) -> dict[str, int]:
    """A page about Alex that Alex and the team may read."""
    expect = {
        "anonymous": LOGIN,
        "patient": 200,
        "other_patient": HIDDEN,
        "team": 200,
        "off_team": HIDDEN,
    }
    expect.update(overrides)
    return expect


@dataclass
class Case:
    """One route, how to call it, and the status each relation must get."""

    endpoint: str
    expect: dict[str, int]
    method: str = "GET"
    # Builds the URL arguments from the demo clinic (default: Alex's patient id).
    args: Callable[[Any], dict[str, Any]] = field(default=lambda demo: {"patient_id": demo.alex})
    form: Callable[[Any], dict[str, Any]] | None = None
    json: Callable[[Any], Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        self.expect = dict(self.expect)  # routes files share dicts: derive into a copy
        for relation, rule in DERIVED.items():
            if relation not in self.expect:
                self.expect[relation] = rule(self)
        missing = set(RELATIONS) - set(self.expect)
        if missing:
            raise ValueError(f"{self.endpoint}: no expectation for {sorted(missing)}")
        self.id = self.id or f"{self.method} {self.endpoint}"
