"""What a caregiver grant should get from each route: one rule, used by the access matrix.

A route's `required_scope` (set by `access.patient_view`) says what it needs:
a grant holding that scope gets what the patient gets there; a grant without
it, 403; no running grant, 404 (the patient might as well not exist). Routes
about no patient answer a caregiver as they answer any signed-in outsider.
`OWN_ONLY` lists the few routes that check more inside the view (one's own
entries, goals:write).
"""

from __future__ import annotations

from functools import cache
from typing import Any

HIDDEN, FORBIDDEN = 404, 403

# (endpoint, method) -> status for a grant holding the route's scope, where the view
# checks more than that scope: the patient's answer comes from being the patient.
OWN_ONLY: dict[tuple[str, str], int] = {
    # Alex's entry: one may change only what one logged oneself.
    ("goals.edit_entry", "GET"): FORBIDDEN,
    ("goals.edit_entry", "POST"): FORBIDDEN,
    ("goals.delete_entry", "POST"): FORBIDDEN,
    # Setting a goal needs goals:write, which only the patient holds.
    ("goals.new", "GET"): FORBIDDEN,
    ("goals.new", "POST"): FORBIDDEN,
    ("api.goals_create", "POST"): FORBIDDEN,
}


# A goal's entries and thread are reached through the goal: they need goals:read too.
THROUGH_GOAL = ("goals.", "api.goals_")
# A decision's lean, answers and thread, and the preference forms, are reached through
# what they belong to: they need decisions:read too (the services check it).
THROUGH_DECISIONS = ("decisions.", "api.decisions_", "preferences.", "api.preferences")
# Routes whose view needs a second scope: asking in a decision's thread is taking part in it.
ALSO_NEEDS = {("decisions.post_message", "POST"): "decisions:write"}


@cache
def required_scopes() -> dict[str, Any]:
    """Each endpoint's `required_scope` (None: not a patient route), from a bare app."""
    from portal import create_app

    app = create_app(
        {
            "PORTAL_ENV": "test",
            "SECRET_KEY": "matrix",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SERVER_NAME": "localhost",
        }
    )
    return {
        endpoint: getattr(view, "required_scope", None)
        for endpoint, view in app.view_functions.items()
    }


def with_grant(scopes: frozenset[str]):
    """The rule for a running grant naming `scopes`."""

    if "decisions:write" in scopes:
        scopes = scopes | {"decisions:read"}  # changing implies reading (access.grant_scopes)

    def rule(case) -> int:
        needed = required_scopes().get(case.endpoint)
        if needed is None:
            return case.expect["other_patient"]
        if needed == "" and "caregiver" in case.expect:
            return case.expect["caregiver"]  # open to any relation: the case says what a grant gets
        if case.expect["patient"] == HIDDEN:
            return HIDDEN  # another patient's page, or nothing there
        if needed and needed not in scopes:
            return FORBIDDEN
        if case.endpoint.startswith(THROUGH_GOAL) and "goals:read" not in scopes:
            return FORBIDDEN
        if case.endpoint.startswith(THROUGH_DECISIONS) and "decisions:read" not in scopes:
            return FORBIDDEN
        also = ALSO_NEEDS.get((case.endpoint, case.method))
        if also is not None and also not in scopes:
            return FORBIDDEN
        return OWN_ONLY.get((case.endpoint, case.method), case.expect["patient"])

    return rule


def without_grant(case) -> int:
    """A revoked or expired grant, or none: like a stranger."""
    if required_scopes().get(case.endpoint) is None:
        return case.expect["other_patient"]
    return HIDDEN
