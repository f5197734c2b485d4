"""Two-step sign-in: a TOTP authenticator app (RFC 6238, via pyotp) and recovery codes.

Required for the kinds in `MFA_REQUIRED_KINDS` (clinicians and administrators)
while `MFA_REQUIRED` is on; offered to everyone else from the account page.

- The secret is sealed at rest (Fernet, a key derived from SECRET_KEY).
- A code is accepted for the step before, the step of, and the step after now
  (phones' clocks drift), and only for a step newer than the last one
  accepted: `UPDATE ... WHERE last_step < :step` in one statement, so the same
  code sent twice, even at once, works once.
- Ten recovery codes of 10 characters (about 50 bits each), kept as keyed
  hashes (HMAC-SHA256, a key derived from SECRET_KEY); each is spent by one
  `UPDATE ... WHERE used_at IS NULL`.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update

from portal.auth.mfa_models import RecoveryCode, TotpCredential
from portal.auth.models import User
from portal.auth.services import end_sessions, second_factor_required, security_event
from portal.db import utcnow
from portal.extensions import db

ISSUER = "CareCircle"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_DIGITS = re.compile(r"^\d{6}$")


class _TOTP(pyotp.TOTP):
    # New secrets are 160 bits (pyotp.random_base32). The demo clinicians' published
    # secret in DESIGN.md is 80 bits, under pyotp's 112-bit floor: accepted when
    # checking codes, never made.
    min_secret_length_bits = 80


def totp(secret: str) -> pyotp.TOTP:
    """The authenticator for a stored secret (what an app holding it computes)."""
    return _TOTP(secret)


required_for = second_factor_required


def sign_in_state(user: User) -> str | None:
    """What sign-in needs after the password: "code", "enrol" (required, none yet) or None."""
    if is_enrolled(user.id):
        return "code"
    return "enrol" if required_for(user.kind) else None


def _derived(info: bytes) -> bytes:
    secret = current_app.secret_key
    raw = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived(b"carecircle totp secrets v1")))


def _seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _unseal(sealed: str) -> str | None:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None  # SECRET_KEY changed: the factor must be set up again


def credential(user_id: int) -> TotpCredential | None:
    return db.session.get(TotpCredential, user_id)


def is_enrolled(user_id: int) -> bool:
    """Whether the account has a confirmed authenticator."""
    return (
        db.session.scalar(
            select(TotpCredential.user_id).where(
                TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
            )
        )
        is not None
    )


def secret_of(user_id: int) -> str | None:
    """The account's TOTP secret in base32 (confirmed or being set up), or None."""
    found = credential(user_id)
    return None if found is None else _unseal(found.secret_sealed)


def begin_setup(user_id: int) -> str:
    """The secret being set up for this account (made once, kept until confirmed)."""
    found = credential(user_id)
    if found is not None and found.confirmed_at is None:
        secret = _unseal(found.secret_sealed)
        if secret is not None:
            return secret
    if found is not None:
        raise ValueError("this account already has an authenticator")
    secret = pyotp.random_base32()
    db.session.add(TotpCredential(user_id=user_id, secret_sealed=_seal(secret)))
    db.session.flush()
    return secret


def qr_code(email: str, secret: str) -> str:
    """The otpauth:// address as a QR code, an SVG data: URI (the CSP allows data: images)."""
    # Imported here, for the one page that draws it: not every worker's 1 MiB.
    import segno

    uri = totp(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def grouped(secret: str) -> str:
    """The secret in groups of four, as people type it into an authenticator app."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    app = totp(secret)
    current = _step(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(app.at(step * STEP_SECONDS), code):
            return step
    return None


def _normalize(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def confirm_setup(user_id: int, code: str, now: datetime | None = None) -> list[str] | None:
    """Confirm the authenticator with a code from it; the new recovery codes, or None if wrong."""
    now = now or utcnow()
    found = credential(user_id)
    if found is None or found.confirmed_at is not None:
        return None
    secret = _unseal(found.secret_sealed)
    step = None if secret is None else _matching_step(secret, _normalize(code), now)
    if step is None:
        return None
    found.confirmed_at = now
    found.last_step = step
    codes = new_recovery_codes(user_id, now)
    security_event(user_id, "mfa_enrolled")
    return codes


def _code_hash(code: str) -> str:
    return hmac.new(_derived(b"carecircle recovery codes v1"), code.encode(), "sha256").hexdigest()


def new_recovery_codes(user_id: int, now: datetime | None = None) -> list[str]:
    """Replace the account's recovery codes with ten new ones; returned once, stored hashed."""
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        for _ in range(RECOVERY_CODES)
    ]
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.execute(
        insert(RecoveryCode),
        [
            {"user_id": user_id, "code_hash": _code_hash(code), "created_at": now or utcnow()}
            for code in codes
        ],
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def recovery_codes_left(user_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )


def verify(user_id: int, code: str, now: datetime | None = None) -> bool:
    """Whether `code` (from the app, or a recovery code) signs this account in; spends it."""
    now = now or utcnow()
    code = _normalize(code)
    if _DIGITS.match(code):
        found = credential(user_id)
        if found is None or found.confirmed_at is None:
            return False
        secret = _unseal(found.secret_sealed)
        step = None if secret is None else _matching_step(secret, code, now)
        if step is None:
            return False
        claimed = db.session.execute(
            update(TotpCredential)
            .where(
                TotpCredential.user_id == user_id,
                or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
            )
            .values(last_step=step)
            .execution_options(synchronize_session=False)
        )
        return claimed.rowcount == 1
    if len(code) != 10 or not is_enrolled(user_id):
        return False
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        return False
    security_event(user_id, "recovery_code_used")
    return True


def remove(user_id: int) -> None:
    """Delete the account's authenticator and recovery codes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    db.session.expire_all()


def turn_off(user: User) -> None:
    """The account holder turns two-step sign-in off (the view checked their password)."""
    if required_for(user.kind):
        raise ValueError("two-step sign-in is required for this account")
    remove(user.id)
    security_event(user.id, "mfa_disabled")


def reset_second_factor(user_id: int, admin_id: int | None = None) -> bool:
    """An administrator clears a lost second factor; the account's sessions end. False if none."""
    had = credential(user_id) is not None
    remove(user_id)
    end_sessions(user_id)
    security_event(user_id, "mfa_reset", actor_id=admin_id)
    return had


def demo_enrol(user_id: int, secret: str) -> None:
    """Enrol an account with a known secret (the demo clinic and tests only)."""
    remove(user_id)
    db.session.add(
        TotpCredential(user_id=user_id, secret_sealed=_seal(secret), confirmed_at=utcnow())
    )
    db.session.flush()
