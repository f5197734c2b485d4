"""Sealing queued messages: encrypted at rest with a key derived from SECRET_KEY.

A queued reset mail holds a live link. The outbox keeps it sealed (Fernet:
AES-128-CBC with HMAC-SHA256), so a copy of the database without the app's
secret opens no account. Changing SECRET_KEY makes mails still queued
unreadable; the deliverer gives those up with a clear reason.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_INFO = b"carecircle mail outbox v1"


class Unreadable(Exception):
    """A sealed message that this app's key cannot open (SECRET_KEY changed since)."""


def _fernet(secret_key: str | bytes) -> Fernet:
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(message: dict[str, Any]) -> str:
    """Encrypt a message (a JSON-able mapping) for the outbox."""
    raw = json.dumps(message, separators=(",", ":")).encode()
    return _fernet(current_app.secret_key).encrypt(raw).decode()


def unseal(sealed: str) -> dict[str, Any]:
    """Open a sealed message; raises Unreadable if the key does not fit."""
    try:
        return json.loads(_fernet(current_app.secret_key).decrypt(sealed.encode()))
    except (InvalidToken, ValueError) as error:
        raise Unreadable("sealed with another SECRET_KEY") from error
