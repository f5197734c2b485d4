"""Accounts the practice makes: patients enrolled by their clinician or an administrator,
clinicians by an administrator; each owner chooses a first password from a mailed link."""
