"""The patients whose pages this account may open now: the web app's saved copies follow it."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user, login_required
from pydantic import Field
from sqlalchemy import select

from portal.access import CARE_TEAM_PATIENTS, care_team_params, own_patient_id
from portal.api.blueprint import ResponseBody, bp
from portal.api.openapi import operation
from portal.caregivers.reading import helped_by
from portal.extensions import db


class OpenPatients(ResponseBody):
    patients: list[int] = Field(
        description="Ids of the patients whose pages this account may open now: its own, "
        "those it acts for, and (clinicians) its care-team patients. The service worker "
        "deletes saved pages of any other patient."
    )


@bp.get("/me/patients")
@operation(
    "The patients whose pages the signed-in account may open now",
    description="Ids only, no names. Called by the service worker when online, so the "
    "phone forgets the saved pages of a patient whose access was revoked or has ended.",
    ok={200: (OpenPatients, "Patient ids")},
)
@login_required
def me_patients():
    user = current_user._get_current_object()
    ids = {h.patient_id for h in helped_by(user.id)}
    own = own_patient_id(user)
    if own is not None:
        ids.add(own)
    ids.update(db.session.scalars(select(CARE_TEAM_PATIENTS.c.patient_id), care_team_params(user)))
    return jsonify({"patients": sorted(ids)})
