"""VAPID (RFC 8292): the server's key pair, and signed tokens cached per push service.

The private key comes from the VAPID_PRIVATE_KEY setting (PEM, or base64url of
the raw 32-byte key or of DER), or is generated once into
`instance/vapid-private.pem` (mode 0600) and read from there by every process
afterwards. Production requires the setting (every server must sign with the
key the browsers subscribed with). The test profile without a configured key
uses a key kept in memory, so the suite never writes into instance/.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from py_vapid import Vapid02

# py_vapid and cryptography's key types (0.7 MiB) are imported by the functions that
# read, make or show keys: a web worker needs them only when it shows the public key.

KEY_FILE = "vapid-private.pem"
TOKEN_LIFETIME = 12 * 3600  # push services refuse tokens valid for more than 24 hours
REFRESH_BEFORE = 3600  # sign a new token when the cached one has less than this left
_EXTENSION = "carecircle.vapid"
_lock = threading.Lock()


class VapidError(RuntimeError):
    """The VAPID settings cannot be used."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_key(setting: str) -> Vapid02:
    """A Vapid02 from the VAPID_PRIVATE_KEY setting's text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from py_vapid import Vapid02

    text = setting.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("not a P-256 key")
            return Vapid02(key)
        return Vapid02.from_string(text)
    except (ValueError, TypeError) as error:
        raise VapidError(
            "VAPID_PRIVATE_KEY must be a P-256 private key: PEM, or base64url of the raw "
            "32-byte key or of its DER form"
        ) from error


def key_file_for(instance_path: str | Path) -> Path:
    return Path(instance_path) / KEY_FILE


def load_or_create_key_file(path: Path) -> Vapid02:
    """Read the key at `path`, generating it first (mode 0600) when it does not exist.

    Creation is exclusive, so two processes starting at once end up with one key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race: use its key
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return load_key(path.read_text())


def server_key(app: Flask | None = None) -> Vapid02:
    """The application server's VAPID key pair (loaded once per app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cached = app.extensions.get(_EXTENSION)
    if cached is not None:
        return cached
    with _lock:
        cached = app.extensions.get(_EXTENSION)
        if cached is None:
            setting = app.config.get("VAPID_PRIVATE_KEY") or ""
            if setting.strip():
                cached = load_key(setting)
            elif app.config.get("TESTING") and not app.config.get("VAPID_KEY_FILE"):
                from cryptography.hazmat.primitives.asymmetric import ec
                from py_vapid import Vapid02

                cached = Vapid02(ec.generate_private_key(ec.SECP256R1()))
            elif app.config.get("PORTAL_ENV") == "production":
                # A key file on one server's disk would give each server its own key, and
                # subscriptions made through one would be refused when another sends.
                raise VapidError(
                    "Set VAPID_PRIVATE_KEY in production, the same on every server "
                    "(make one with `flask --app wsgi notify vapid-keys --new`)"
                )
            else:
                path = app.config.get("VAPID_KEY_FILE") or key_file_for(app.instance_path)
                cached = load_or_create_key_file(Path(path))
            app.extensions[_EXTENSION] = cached
    return cached


def new_private_key() -> str:
    """A fresh key in the form VAPID_PRIVATE_KEY takes (base64url of the raw 32-byte key)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def forget_key(app: Flask) -> None:
    """Drop the cached key (after changing the VAPID settings)."""
    app.extensions.pop(_EXTENSION, None)


def public_key_of(key: Vapid02) -> str:
    """A key pair's public key as base64url (uncompressed P-256 point)."""
    from cryptography.hazmat.primitives import serialization

    return b64url(
        key.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def public_key(app: Flask | None = None) -> str:
    """The public key as base64url: the browser's `applicationServerKey`."""
    return public_key_of(server_key(app))


def check_subject(subject: str) -> str:
    if not subject.startswith(("mailto:", "https:")):
        raise VapidError("VAPID_SUBJECT must be a mailto: or https: contact address")
    return subject


class VapidSigner:
    """Signs one token per push-service origin and reuses it while it stays valid.

    Thread-safe; the deliverer's worker threads share one signer.
    """

    def __init__(
        self,
        key: Vapid02,
        subject: str,
        *,
        lifetime: int = TOKEN_LIFETIME,
        refresh_before: int = REFRESH_BEFORE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if refresh_before >= lifetime:
            raise ValueError("refresh_before must be shorter than the token lifetime")
        self.key = key
        self.subject = check_subject(subject)
        self.lifetime = lifetime
        self.refresh_before = refresh_before
        self.clock = clock
        self.signatures = 0  # how many tokens were signed (for tests and metrics)
        self._tokens: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def authorization(self, origin: str) -> str:
        """The `Authorization: vapid t=..., k=...` value for a push service origin."""
        now = self.clock()
        with self._lock:
            cached = self._tokens.get(origin)
            if cached is not None and cached[1] - now > self.refresh_before:
                return cached[0]
            exp = int(now) + self.lifetime
            # A fresh dict each time: py_vapid and pywebpush treat claims as theirs to change.
            claims = {"sub": self.subject, "aud": origin, "exp": exp}
            header = self.key.sign(claims)["Authorization"]
            self._tokens[origin] = (header, exp)
            self.signatures += 1
            return header
