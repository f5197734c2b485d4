"""JSON API for the patient's preferences (`/api/v1`): the same services and rules as the pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from flask import jsonify, url_for
from pydantic import Field

from portal.access import Access, Scope, patient_view
from portal.api.blueprint import ApiError, RequestBody, ResponseBody, body, bp
from portal.api.openapi import operation
from portal.db import utcnow
from portal.decisions import preferences_inputs as inputs
from portal.decisions import preferences_services as services
from portal.decisions.preferences_models import Channel, Detail, Involvement, Priority, RiskFormat
from portal.decisions.preferences_text import FIELD_LABELS, value_text
from portal.goals.inputs import Invalid

BASE = "/patients/<int:patient_id>/preferences"


class PersonInput(RequestBody):
    """One of the patient's caregivers by `grant_id`, or someone else by name."""

    grant_id: Annotated[
        int | None,
        Field(
            gt=0,
            description="A caregiver's grant for this patient, running now (or already "
            "chosen); name and relationship then come from the grant.",
        ),
    ] = None
    name: Annotated[str, Field(max_length=inputs.NAME_MAX)] = ""
    relationship: Annotated[str, Field(max_length=inputs.RELATIONSHIP_MAX)] = ""


class PreferencesInput(RequestBody):
    """The fields to change; fields left out keep their value, null clears a choice."""

    version: Annotated[
        int | None,
        Field(description="The version read; if another change came first, the answer is 409."),
    ] = None
    what_matters: Annotated[str | None, Field(max_length=inputs.WHAT_MATTERS_MAX)] = None
    priorities: Annotated[
        list[Priority] | None,
        Field(max_length=inputs.PRIORITIES_MAX, description="Ranked: most important first."),
    ] = None
    priority_other: Annotated[
        str | None,
        Field(max_length=inputs.OTHER_MAX, description="Required when priorities has other."),
    ] = None
    involvement: Annotated[
        Involvement | None, Field(description="The Control Preferences Scale, A to E.")
    ] = None
    detail: Detail | None = None
    risk_format: RiskFormat | None = None
    language: Annotated[str | None, Field(max_length=inputs.LANGUAGE_MAX)] = None
    interpreter: bool | None = None
    channel: Channel | None = None
    contact_times: Annotated[str | None, Field(max_length=inputs.TIMES_MAX)] = None
    people: Annotated[
        list[PersonInput] | None,
        Field(max_length=inputs.PEOPLE_MAX + inputs.CAREGIVERS_MAX),
    ] = None


class PersonOut(ResponseBody):
    name: str
    relationship: str
    grant_id: int | None = Field(
        description="The caregiver's grant, when the person is one of the patient's caregivers."
    )
    has_access: bool | None = Field(
        description="For a caregiver: whether their grant gives access now "
        "(false once revoked or ended); null for someone named in words."
    )


class Preferences(ResponseBody):
    """What matters to the patient and how they want to decide and be told."""

    patient_id: int
    version: int = Field(description="0 until the patient first says anything.")
    what_matters: str = Field(description="In the patient's own words.")
    priorities: list[Priority] = Field(description="Ranked: most important first.")
    priority_other: str
    involvement: Involvement | None
    involvement_statement: str | None = Field(description="The scale's statement, as shown.")
    detail: Detail | None
    risk_format: RiskFormat | None
    language: str
    interpreter: bool | None
    channel: Channel | None
    contact_times: str
    people: list[PersonOut] = Field(description="Who the patient wants involved in decisions.")
    summary: str = Field(examples=["Wants to decide together · words not numbers"])
    updated_at: datetime | None
    updated_by: str | None
    updated_since_seen: bool = Field(
        description="For a clinician: changed by someone else since they marked them seen."
    )
    url: str = Field(description="The preferences page in the portal.")


class FieldChange(ResponseBody):
    field: str
    label: str
    before: Any
    after: Any
    text: str = Field(description="The change in words.")


class Change(ResponseBody):
    version: int
    at: datetime
    actor_name: str
    actor_relation: str = Field(examples=["self", "caregiver", "care_team"])
    changes: list[FieldChange]


class PreferenceHistory(ResponseBody):
    changes: list[Change] = Field(description="Newest first.")


def _person_json(person: dict[str, Any], now: datetime) -> dict[str, Any]:
    grant_id = person.get("grant_id")
    return {
        "name": person["name"],
        "relationship": person["relationship"],
        "grant_id": grant_id,
        "has_access": services.has_access(person, now) if grant_id is not None else None,
    }


def preferences_json(prefs: services.Preferences) -> dict[str, Any]:
    now = utcnow()
    return {
        **prefs.values(),
        "patient_id": prefs.patient_id,
        "version": prefs.version,
        "involvement_statement": Involvement(prefs.involvement).statement
        if prefs.involvement
        else None,
        "summary": prefs.line,
        "updated_at": prefs.updated_at.isoformat() if prefs.updated_at else None,
        "updated_by": prefs.updated_by_name or None,
        "updated_since_seen": prefs.unseen,
        "people": [_person_json(p, now) for p in prefs.people],
        "url": url_for("preferences.view", patient_id=prefs.patient_id),
    }


@bp.get(BASE)
@operation("What matters to the patient and how they want to decide", ok={200: (Preferences, "")})
@patient_view(Scope.DECISIONS_READ)
def preferences_get(access: Access):
    return jsonify(preferences_json(services.load(access)))


def _rules(data: Mapping[str, Any]) -> dict[str, str]:
    try:
        inputs.clean(data, [name for name in inputs.FIELDS if name in data])
    except Invalid as error:
        return error.fields
    return {}


@bp.put(BASE)
@operation(
    "Change what matters to the patient (every change is kept)",
    description="Fields left out keep their value. With `version`, a change made "
    "meanwhile by someone else is refused with 409 instead of being overwritten.",
    body=PreferencesInput,
    ok={200: (Preferences, "Saved")},
    errors=(409,),
)
@patient_view(Scope.DECISIONS_WRITE)
def preferences_put(access: Access):
    data = body(PreferencesInput, _rules)
    expected = data.pop("version", None)
    if ("priorities" in data) != ("priority_other" in data):  # checked together
        current = services.card(access)
        data.setdefault("priorities", current.priorities if current else [])
        data.setdefault("priority_other", current.priority_other if current else "")
    try:
        values = inputs.clean(data, [name for name in inputs.FIELDS if name in data])
        prefs = services.save(access, values, expected_version=expected)
    except Invalid as error:
        raise ApiError(422, error.message, error.fields) from None
    except services.Conflict as error:
        raise ApiError(409, str(error)) from None
    return jsonify(preferences_json(prefs))


@bp.get(BASE + "/history")
@operation("Every change to the preferences: who, when, what", ok={200: (PreferenceHistory, "")})
@patient_view(Scope.DECISIONS_READ)
def preferences_history(access: Access):
    changes = [
        {
            "version": entry.version,
            "at": entry.at.isoformat(),
            "actor_name": entry.actor_name,
            "actor_relation": entry.actor_relation,
            "changes": [
                {
                    "field": name,
                    "label": FIELD_LABELS[name],
                    "before": before,
                    "after": after,
                    "text": f"{FIELD_LABELS[name]}: {value_text(name, after)}"
                    f" (was: {value_text(name, before)})",
                }
                for name, (before, after) in entry.changes.items()
            ],
        }
        for entry in services.history(access)
    ]
    return jsonify({"changes": changes})
