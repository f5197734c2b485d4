"""Family caregivers and guardians: invitations, grants, scopes, expiry and revocation."""
