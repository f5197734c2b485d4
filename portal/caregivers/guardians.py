"""THE rules for a guardian of a minor, in one place, as pure functions of dates.

A guardian is linked by clinic staff while the patient is under 18. From
`GUARDIAN_SENSITIVE_AGE` (default 12) the guardian no longer sees items marked
sensitive, whatever the grant says (adolescents' confidential care). On the
18th birthday the guardian's access ends; only the now-adult patient can grant
access anew, as a caregiver.
"""

from __future__ import annotations

from datetime import date

ADULT_AGE = 18
SENSITIVE = "sensitive"  # access.Scope.SENSITIVE (this module imports nothing of the portal)


def age_on(birth_date: date, day: date) -> int:
    """Completed years on `day` (someone born on 29 February turns a year older on 1 March)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def is_minor(birth_date: date | None, day: date) -> bool:
    """Whether a guardian may be linked: a known birth date, and under 18 on `day`."""
    return birth_date is not None and age_on(birth_date, day) < ADULT_AGE


def guardian_scopes(
    scopes: frozenset[str], birth_date: date | None, day: date, sensitive_age: int
) -> frozenset[str] | None:
    """What a guardian's grant allows on `day`: None once the patient is an adult (or unknown)."""
    if not is_minor(birth_date, day):
        return None
    if age_on(birth_date, day) >= sensitive_age:
        return scopes - {SENSITIVE}
    return scopes


def adult_on(birth_date: date) -> date:
    """The 18th birthday (1 March for those born on 29 February, as `age_on` counts)."""
    try:
        return birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:
        return date(birth_date.year + ADULT_AGE, 3, 1)


# Why clinic staff end a guardian's access before the 18th birthday: kept on the grant
# for the care team, never put in a mail or notice (it may itself be confidential).
END_CAUSES: tuple[tuple[str, str], ...] = (
    ("court_order", "A court order or other legal decision"),
    ("custody_change", "Custody or guardianship changed"),
    ("safeguarding", "A safeguarding concern"),
    ("confidentiality", "The young person asked for confidential care"),
    ("linked_in_error", "Linked by mistake, or to the wrong person"),
    ("other", "Another reason (say below)"),
)
END_CAUSE_LABELS = dict(END_CAUSES)
