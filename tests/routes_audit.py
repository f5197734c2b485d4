"""Access matrix rows for the audit trail: the patient's access log and the admin report.

The access log is the patient's own (a caregiver, when that relation lands,
sees only their own part); the team is refused it. The report is for
administrators only: everyone else gets 404, not a hint that it exists.
"""

from tests.matrix import HIDDEN, LOGIN, Case, patient_page

ADMIN_ONLY = {
    "anonymous": LOGIN,
    "patient": HIDDEN,
    "other_patient": HIDDEN,
    "team": HIDDEN,
    "off_team": HIDDEN,
    "admin": 200,  # for when the administrator relation joins the matrix
}
NO_ARGS = {"args": lambda demo: {}}

ROUTES = [
    Case("audit.history", patient_page(team=403)),
    Case("audit.report", ADMIN_ONLY, **NO_ARGS),
    Case("audit.export", ADMIN_ONLY, **NO_ARGS),
]
