"""Pages for the patient's preferences: see, change (also as first-time steps), history, seen."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import NotFound

from portal import pagecache
from portal.access import Access, Scope, patient_view
from portal.decisions import preferences_api  # noqa: F401  (adds its routes to the API blueprint)
from portal.decisions import preferences_services as services
from portal.decisions.preferences_inputs import PEOPLE_MAX, SECTIONS, clean, from_form
from portal.decisions.preferences_models import (
    PRIORITY_LABELS,
    Channel,
    Detail,
    Involvement,
    Priority,
    RiskFormat,
)
from portal.decisions.preferences_people import CaregiverChoice, caregiver_choices
from portal.decisions.preferences_text import FIELD_LABELS, person_text, priority_texts, value_text
from portal.goals.inputs import Invalid

bp = Blueprint("preferences", __name__, url_prefix="/p/<int:patient_id>/preferences")

STEPS = tuple(SECTIONS)  # the first-time questions, in order: one section a page
TITLES = {
    "matters": "What matters to you",
    "involvement": "How involved do you want to be?",
    "information": "How do you like to get information?",
    "people": "Who do you want involved?",
}
# Where the error summary's link for a field lands (its first input).
ANCHORS = {
    "priorities": "priority_1",
    "involvement": "involvement-active",
    "detail": "detail-brief",
    "risk_format": "risk_format-numbers",
    "interpreter": "interpreter-yes",
    "channel": "channel-portal",
    "people": "name_0",
}


@bp.get("")
@patient_view(Scope.DECISIONS_READ)
def view(access: Access):
    """The preferences in plain words, with a way to change each part."""
    prefs = services.load(access)
    return render_template("preferences/view.html", access=access, prefs=prefs, titles=TITLES)


@bp.route("/<section>", methods=["GET", "POST"])
@patient_view(Scope.DECISIONS_WRITE)
def edit(access: Access, section: str):
    """One part of the preferences; with `step`, one of the first-time questions."""
    if section not in SECTIONS:
        raise NotFound()
    step = request.values.get("step") == "1"
    if request.method == "POST":
        if "skip" in request.form:
            return _skip(access)
        raw = from_form(request.form, section)
        try:
            values = clean(raw, SECTIONS[section])
            expected = request.form.get("version", type=int)
            last = step and section == STEPS[-1]
            services.save(access, values, expected_version=expected, finish=last)
        except Invalid as error:
            return _form(access, section, step, raw, error.fields, 422)
        except services.Conflict as error:
            return _form(access, section, step, raw, {"": str(error)}, 409)
        return _next(access, section, step)
    prefs = services.load(access)
    return _form(access, section, step, prefs.values(), {}, 200, version=prefs.version)


def _form(access, section, step, values, errors, status, version=None):
    if version is None:
        version = request.form.get("version", type=int)
    return (
        render_template(
            "preferences/edit.html",
            access=access,
            section=section,
            title=TITLES[section],
            step=step,
            number=STEPS.index(section) + 1,
            steps=len(STEPS),
            values=values,
            errors=errors,
            anchors=ANCHORS,
            version=version,
            people_rows=PEOPLE_MAX,
            caregivers=_caregivers(access) if section == "people" else [],
        ),
        status,
    )


def _caregivers(access: Access) -> list[CaregiverChoice]:
    stored = services.card(access)
    return caregiver_choices(access, stored.people if stored else [])


def _next(access: Access, section: str, step: bool):
    if step and section != STEPS[-1]:
        following = STEPS[STEPS.index(section) + 1]
        return redirect(
            url_for(".edit", patient_id=access.patient_id, section=following, step=1), 303
        )
    if step:
        flash("Thank you. Your care team will see this first when they open your plan.", "success")
    else:
        flash(f"Saved: {TITLES[section].rstrip('?').lower()}.", "success")
    return redirect(url_for(".view", patient_id=access.patient_id), 303)


def _skip(access: Access):
    services.skip(access)
    flash("No problem. You can tell your care team any time from your plan.", "success")
    return redirect(url_for("careplan.home", patient_id=access.patient_id), 303)


@bp.post("/skip")
@patient_view(Scope.DECISIONS_WRITE)
def skip(access: Access):
    """ "Skip for now": remembered, so the first-time questions are not asked again."""
    return _skip(access)


@bp.get("/history")
@patient_view(Scope.DECISIONS_READ)
def history(access: Access):
    entries = services.history(access)
    return render_template("preferences/history.html", access=access, entries=entries)


@bp.post("/seen")
@patient_view(Scope.DECISIONS_READ)
def seen(access: Access):
    """A clinician has read the preferences as they are now."""
    services.mark_seen(access)
    return redirect(url_for("careplan.plan", patient_id=access.patient_id), 303)


def preferences_card(access: Access) -> services.Preferences | None:
    """The preferences the plan page (or home) shows first, once per request; None if hidden."""
    if "preferences_card" not in g:
        g.preferences_card = services.card(access)
    return g.preferences_card


def preference_lines(rows: Iterable[Any]) -> dict[int, services.ListLine]:
    """The one-line summaries for a clinician's list of rows with a `patient_id`."""
    return services.list_lines(current_user._get_current_object(), (r.patient_id for r in rows))


def choices() -> dict[str, Any]:
    return {
        "priorities": [(p.value, PRIORITY_LABELS[p]) for p in Priority],
        "involvement": [(i.value, i.statement) for i in Involvement],
        "detail": [(d.value, d.label) for d in Detail],
        "risk_format": [(r.value, r.label) for r in RiskFormat],
        "channel": [(c.value, c.label) for c in Channel],
    }


def _granted(value: str, context: dict) -> bool:
    starts, ends = (datetime.fromisoformat(part) for part in value.split())
    return starts <= context["now"] < ends


# A caregiver's grant runs out with nothing written: "has access" is decided per response.
pagecache.register_condition("grant_running", _granted)
pagecache.register_condition("grant_ended", lambda v, c: not _granted(v, c))


@bp.record_once
def _install_helpers(state) -> None:
    state.app.jinja_env.globals.update(
        preferences_card=preferences_card,
        preference_lines=preference_lines,
        preference_choices=choices,
        preference_value=value_text,
        preference_labels=FIELD_LABELS,
        preference_priorities=priority_texts,
        preference_person=person_text,
    )
