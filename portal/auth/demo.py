"""Demo accounts' second factor: demo clinicians use the authenticator secret in DESIGN.md."""

from __future__ import annotations

from portal.auth import mfa
from portal.auth.models import User
from portal.auth.services import STAFF_KINDS

# Add it to any authenticator app (README) to sign in as a demo clinician.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP"  # noqa: S105  (published demo data)


def enrol_staff(users: dict[str, User]) -> None:
    """Enrol every demo clinician and administrator, once (whether or not MFA_REQUIRED is on)."""
    for user in users.values():
        if str(user.kind) in STAFF_KINDS and not mfa.is_enrolled(user.id):
            mfa.demo_enrol(user.id, DEMO_TOTP_SECRET)
