"""Password rules after OWASP ASVS (V2.1) and NIST SP 800-63B: long, free, not common.

At least 12 characters and at most 128, counted as Unicode code points after
NFKC normalisation; any characters, spaces and emoji included; no rules about
mixing letters, digits and symbols. Refused: the most common passwords (a list
shipped with the project, see common-passwords.txt), the account's own email
address, and one character repeated. Every place that sets a password asks
`problem()` first: the reset and change forms, the CLI and `create_user`.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

MIN_LENGTH = 12
# Long passphrases are welcome; the cap only keeps hashing cheap to ask for.
MAX_LENGTH = 128

COMMON_LIST = Path(__file__).with_name("common-passwords.txt")

TOO_SHORT = (
    f"Your password must be at least {MIN_LENGTH} characters long. "
    "A few words in a row are long and easy to remember."
)
TOO_LONG = f"Your password must be {MAX_LENGTH} characters or fewer."
TOO_COMMON = "This password is too common and easy to guess. Choose a different one."
IS_EMAIL = "Do not use your email address as your password. Choose a different one."


def normalize(password: str) -> str:
    """NFKC: the same password typed on any keyboard hashes the same."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased (read once per process)."""
    with COMMON_LIST.open(encoding="utf-8") as lines:
        return frozenset(
            line.rstrip("\n") for line in lines if line.strip() and not line.startswith("# ")
        )


def _is_common(password: str) -> bool:
    folded = password.casefold().strip()
    squeezed = "".join(folded.split())  # "pass word 1234" is "password1234"
    common = common_passwords()
    return folded in common or squeezed in common or len(set(squeezed)) <= 1


def problem(password: str, email: str | None = None) -> str | None:
    """Why this password may not be used (a message for the person), or None if it may."""
    password = normalize(password)
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    if _is_common(password):
        return TOO_COMMON
    if email and password.casefold().strip() == email.strip().casefold():
        return IS_EMAIL
    return None


class PasswordRejected(ValueError):
    """A new password that breaks the rules; the message says why, in plain words."""


def check(password: str, email: str | None = None) -> None:
    """Raise PasswordRejected when `password` breaks the rules."""
    message = problem(password, email)
    if message is not None:
        raise PasswordRejected(message)
