"""The team page shows destructive controls only to those whom the server lets use them."""

from __future__ import annotations

import re

from tests.conftest import text_of
from tests.factories import Clinic

REMOVE_FORM = re.compile(r'action="/p/\d+/team/(\d+)/remove"')


def _team(app):
    clinic = Clinic(app)
    patient = clinic.patient("Alex", "Morgan")
    lead = clinic.clinician("Dr. Riley Rivera")
    member = clinic.clinician("Jordan Lee")
    lead_row = clinic.team(patient, lead, lead=True)
    member_row = clinic.team(patient, member, role="Care manager")
    return clinic, patient, lead, member, lead_row, member_row


def test_a_member_who_is_not_the_lead_sees_no_remove_control(app):
    clinic, patient, _lead, member, _lead_row, member_row = _team(app)
    client = clinic.login(member.email)
    page = client.get(f"/p/{patient.id}/team")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not REMOVE_FORM.search(html) and "Yes, remove them" not in html
    assert "Only the lead clinician (Dr. Riley Rivera) adds or removes people" in text_of(page)
    # The server still refuses, whatever the page shows.
    refused = client.submit(f"/p/{patient.id}/team/{member_row}/remove")
    assert refused.status_code == 403


def test_the_lead_sees_remove_for_the_others_but_not_for_the_only_lead(app):
    clinic, patient, lead, _member, lead_row, member_row = _team(app)
    html = clinic.login(lead.email).get(f"/p/{patient.id}/team").get_data(as_text=True)
    removable = {int(i) for i in REMOVE_FORM.findall(html)}
    # The only lead cannot be removed (the server refuses it), so no button offers it.
    assert removable == {member_row}
    assert lead_row not in removable


def test_the_patient_sees_no_remove_control(app):
    clinic, patient, *_ = _team(app)
    html = clinic.login(patient.email).get(f"/p/{patient.id}/team").get_data(as_text=True)
    assert not REMOVE_FORM.search(html)
