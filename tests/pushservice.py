"""Local Web Push service stand-in for tests, checking what RFC 8030/8291/8292 services check.

A real push service cannot read payloads; this one also plays the browser and decrypts each
message with the subscription's private key, so tests can assert on the plaintext.

Request handling order for ``POST /push/<token>``: body framing, unknown token (404),
VAPID auth (401 malformed/missing/bad signature, 403 bad claims or key mismatch), headers
(400), size (413), decryption (400); all of those are *rejections*.  Only a request that
passes every check reaches the subscription's *behaviour* (201, 404, 410, 413, 429, 500, hang).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Literal, Self, get_args
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from py_vapid import Vapid02
from requests.structures import CaseInsensitiveDict

__all__ = [
    "BEHAVIOURS",
    "MAX_EXP_AHEAD",
    "MAX_PAYLOAD",
    "URGENCIES",
    "Attempt",
    "Behaviour",
    "PushService",
    "Received",
    "Rejection",
    "Subscription",
    "b64url_decode",
    "b64url_encode",
    "encrypt_payload",
    "new_vapid",
    "public_key_raw",
    "sign_jwt",
    "vapid_authorization",
    "vapid_private_key_b64",
    "vapid_public_key_b64",
]

Behaviour = Literal[
    "ok",
    "gone",
    "not_found",
    "too_large",
    "rate_limited",
    "rate_limited_once",
    "error",
    "error_once",
    "hang",
]
BEHAVIOURS: frozenset[str] = frozenset(get_args(Behaviour))
URGENCIES: frozenset[str] = frozenset({"very-low", "low", "normal", "high"})
MAX_PAYLOAD = 4096
MAX_EXP_AHEAD = 24 * 60 * 60

_MAX_DRAIN = 64 * 1024
_AES128GCM_HEADER = 16 + 4 + 1 + 65
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TTL = re.compile(r"[0-9]+")
_PUSH_PATH = re.compile(r"/push/([A-Za-z0-9_-]+)")
_VAPID_HINT = "expected 'Authorization: vapid t=<jwt>, k=<key>' (RFC 8292)"
_ONCE = {"error_once": "error", "rate_limited_once": "rate_limited"}
_BEHAVIOUR_REPLIES: dict[str, tuple[int, str]] = {
    "gone": (410, "Gone: subscription has expired or been unsubscribed"),
    "not_found": (404, "Not Found: no such subscription"),
    "too_large": (413, "Payload Too Large"),
    "rate_limited": (429, "Too Many Requests"),
    "error": (500, "Internal Server Error"),
}


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url text (padding optional); raise ValueError when malformed."""
    stripped = text.rstrip("=")
    if not _B64URL.fullmatch(stripped) or len(stripped) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def public_key_raw(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> bytes:
    """Return the 65-byte uncompressed point of a P-256 key."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def new_vapid() -> Vapid02:
    """Generate a fresh RFC 8292 VAPID key pair (what pywebpush uses for string keys)."""
    vapid = Vapid02()
    vapid.generate_keys()
    return vapid


def vapid_private_key_b64(vapid: Vapid02) -> str:
    """Return the raw 32-byte private scalar as base64url, a form pywebpush accepts."""
    return b64url_encode(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_public_key_b64(vapid: Vapid02) -> str:
    """Return the public key as base64url (the browser's applicationServerKey)."""
    return b64url_encode(public_key_raw(vapid.public_key))


def sign_jwt(
    private_key: ec.EllipticCurvePrivateKey,
    claims: Mapping[str, Any],
    header: Mapping[str, Any] | None = None,
) -> str:
    """Sign arbitrary claims as an ES256 JWT without validating them (to craft bad tokens)."""
    head = {"typ": "JWT", "alg": "ES256"} if header is None else dict(header)
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (head, claims)
    )
    r, s = decode_dss_signature(
        private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    )
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def vapid_authorization(
    private_key: ec.EllipticCurvePrivateKey,
    claims: Mapping[str, Any],
    *,
    public_key: bytes | None = None,
    header: Mapping[str, Any] | None = None,
) -> str:
    """Build an RFC 8292 ``vapid t=<jwt>, k=<key>`` value; ``public_key`` overrides ``k``."""
    key = public_key_raw(private_key) if public_key is None else public_key
    return f"vapid t={sign_jwt(private_key, claims, header)}, k={b64url_encode(key)}"


def encrypt_payload(subscription_info: Mapping[str, Any], data: bytes) -> bytes:
    """Encrypt data to a subscription (RFC 8291 aes128gcm) as an application server does."""
    keys = subscription_info["keys"]
    return http_ece.encrypt(
        data,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(keys["p256dh"]),
        auth_secret=b64url_decode(keys["auth"]),
        version="aes128gcm",
    )


@dataclass(frozen=True, eq=False)
class Subscription:
    """A browser-side push subscription: keys held by the 'browser' plus its endpoint."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    application_server_key: bytes | None = None

    @property
    def public_key(self) -> bytes:
        """Return the 65-byte uncompressed p256dh point."""
        return public_key_raw(self.private_key)

    @property
    def info(self) -> dict[str, Any]:
        """Return a fresh dict shaped like the browser's ``PushSubscription.toJSON()``."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {
                "p256dh": b64url_encode(self.public_key),
                "auth": b64url_encode(self.auth_secret),
            },
        }

    def decrypt(self, body: bytes) -> bytes:
        """Decrypt an aes128gcm push message body addressed to this subscription."""
        return http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )


@dataclass(frozen=True)
class Received:
    """A push message accepted with 201."""

    token: str
    payload: bytes
    headers: Mapping[str, str]
    jwt_claims: dict[str, Any]
    time: float


@dataclass(frozen=True)
class Rejection:
    """A request refused by validation (auth, headers, size, decryption, unknown token)."""

    token: str | None
    status: int
    reason: str
    headers: Mapping[str, str]
    time: float


@dataclass(frozen=True)
class Attempt:
    """Any request to a push resource with its outcome; status 0 means it was left hanging."""

    token: str | None
    status: int
    reason: str
    headers: Mapping[str, str]
    payload: bytes | None
    jwt_claims: dict[str, Any] | None
    time: float


@dataclass
class _State:
    """Mutable per-subscription settings."""

    subscription: Subscription
    behaviour: Behaviour
    retry_after: int


@dataclass
class _Reply:
    """An HTTP answer to write."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


class _Reject(Exception):
    """Validation failure carrying the status and reason to answer with."""

    def __init__(self, status: int, reason: str, *, close: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.close = close


class _Server(ThreadingHTTPServer):
    """HTTP server that tracks connections and never blocks on close."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, service: PushService) -> None:
        self.service = service
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup HTTPServer does."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count and track the connection, then serve it on a daemon thread."""
        self.service._connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        self.service._connection_closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore dropped connections; record anything else as a stand-in bug."""
        if not isinstance(sys.exc_info()[1], OSError):
            self.service._record_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler delegating to the PushService."""

    protocol_version = "HTTP/1.1"
    server_version = "PushServiceStandIn/1.0"
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def do_POST(self) -> None:
        """Handle a push message."""
        self.server.service._handle(self)

    def version_string(self) -> str:
        """Return the Server header value."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: no access log."""


class PushService:
    """Threaded local Web Push service that validates, decrypts and records push messages."""

    def __init__(self, *, hang_seconds: float = 30.0, retry_after: int = 1) -> None:
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._states: dict[str, _State] = {}
        self._received: list[Received] = []
        self._rejections: list[Rejection] = []
        self._attempts: list[Attempt] = []
        self._errors: list[str] = []
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._origin: str | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind to a free 127.0.0.1 port and serve on a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._origin = f"http://{self._server.server_name}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"pushservice-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hanging requests and drop open connections promptly."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._open)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        """Start the service."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the service."""
        self.stop()

    @property
    def origin(self) -> str:
        """Return ``http://127.0.0.1:<port>``; the JWT ``aud`` must equal it."""
        if self._origin is None:
            raise RuntimeError("PushService not started")
        return self._origin

    # subscriptions

    def new_subscription(
        self,
        behaviour: Behaviour = "ok",
        *,
        retry_after: int | None = None,
        application_server_key: bytes | str | None = None,
    ) -> Subscription:
        """Create a subscription with a behaviour; a set application_server_key restricts k."""
        _check_behaviour(behaviour)
        if isinstance(application_server_key, str):
            application_server_key = b64url_decode(application_server_key)
        token = secrets.token_urlsafe(24)
        subscription = Subscription(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=secrets.token_bytes(16),
            application_server_key=application_server_key,
        )
        state = _State(subscription, behaviour, self._retry_after(retry_after))
        with self._lock:
            self._states[token] = state
        return subscription

    def set_behaviour(
        self,
        subscription: Subscription | str,
        behaviour: Behaviour,
        *,
        retry_after: int | None = None,
    ) -> None:
        """Change how the service answers valid messages for a subscription."""
        _check_behaviour(behaviour)
        with self._lock:
            state = self._states[_token(subscription)]
            state.behaviour = behaviour
            if retry_after is not None:
                state.retry_after = retry_after

    def behaviour(self, subscription: Subscription | str) -> Behaviour:
        """Return the current behaviour (``*_once`` turn into ``ok`` after firing)."""
        with self._lock:
            return self._states[_token(subscription)].behaviour

    # records

    @property
    def received(self) -> list[Received]:
        """Return the messages accepted with 201, oldest first."""
        with self._lock:
            return list(self._received)

    @property
    def rejections(self) -> list[Rejection]:
        """Return the requests refused by validation, oldest first."""
        with self._lock:
            return list(self._rejections)

    @property
    def attempts(self) -> list[Attempt]:
        """Return every request to a push resource with its outcome, oldest first."""
        with self._lock:
            return list(self._attempts)

    @property
    def errors(self) -> list[str]:
        """Return tracebacks of unexpected exceptions inside the stand-in (should be empty)."""
        with self._lock:
            return list(self._errors)

    @property
    def connections(self) -> int:
        """Return how many TCP connections have been accepted."""
        with self._lock:
            return self._connections

    def requests_for(self, subscription: Subscription | str) -> list[Attempt]:
        """Return every attempt (any status) addressed to a subscription."""
        token = _token(subscription)
        with self._lock:
            return [a for a in self._attempts if a.token == token]

    def received_for(self, subscription: Subscription | str) -> list[Received]:
        """Return the messages accepted for a subscription."""
        token = _token(subscription)
        with self._lock:
            return [r for r in self._received if r.token == token]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` messages are received; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} push messages within {timeout}s, got "
                        f"{len(self._received)}; last rejections: {self._rejections[-3:]!r}"
                    )
                self._changed.wait(remaining)
            return list(self._received)

    def clear(self) -> None:
        """Forget recorded messages, rejections, attempts and the connection count."""
        with self._lock:
            self._received.clear()
            self._rejections.clear()
            self._attempts.clear()
            self._connections = 0

    # request handling

    def _handle(self, handler: _Handler) -> None:
        """Answer one POST, turning stand-in bugs into a recorded 500."""
        try:
            reply = self._process(handler)
        except OSError:
            handler.close_connection = True
            return
        except Exception:
            self._record_error(traceback.format_exc())
            reply = _Reply(500, "push service stand-in crashed", close=True)
        if reply is None:
            handler.close_connection = True
            return
        _send(handler, reply)

    def _process(self, handler: _Handler) -> _Reply | None:
        """Validate, decrypt and apply the behaviour; None means hang without answering."""
        match = _PUSH_PATH.fullmatch(urlsplit(handler.path).path)
        token = match.group(1) if match else None
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(dict(handler.headers.items()))
        try:
            body = _read_body(handler)
            with self._lock:
                state = self._states.get(token) if token else None
            if state is None:
                raise _Reject(404, "Not Found: no such push subscription")
            claims = self._check_auth(headers, state.subscription)
            _check_headers(headers, body)
            if len(body) > MAX_PAYLOAD:
                raise _Reject(413, f"Payload Too Large: {len(body)} > {MAX_PAYLOAD} bytes")
            payload = _decrypt(state.subscription, headers, body)
        except _Reject as rejection:
            self._record_rejection(token, headers, rejection)
            return _Reply(rejection.status, rejection.reason, close=rejection.close)
        return self._apply_behaviour(state, headers, payload, claims)

    def _apply_behaviour(
        self,
        state: _State,
        headers: Mapping[str, str],
        payload: bytes,
        claims: dict[str, Any],
    ) -> _Reply | None:
        """Answer a valid message according to the subscription's behaviour."""
        token = state.subscription.token
        now = time.time()
        reply: _Reply | None
        with self._lock:
            behaviour: str = state.behaviour
            if behaviour in _ONCE:
                state.behaviour = "ok"
                behaviour = _ONCE[behaviour]
            if behaviour == "hang":
                reply = None
                self._attempts.append(Attempt(token, 0, "hang", headers, payload, claims, now))
            elif behaviour == "ok":
                location = f"{self._origin}/message/{uuid.uuid4().hex}"
                reply = _Reply(201, "Created", {"Location": location})
                self._received.append(Received(token, payload, headers, claims, now))
                self._changed.notify_all()
            else:
                reply = _Reply(*_BEHAVIOUR_REPLIES[behaviour])
                if behaviour == "rate_limited":
                    reply.headers["Retry-After"] = str(state.retry_after)
            if reply is not None:
                self._attempts.append(
                    Attempt(token, reply.status, reply.reason, headers, payload, claims, now)
                )
        if reply is None:
            self._stopping.wait(self.hang_seconds)
        return reply

    def _check_auth(self, headers: Mapping[str, str], sub: Subscription) -> dict[str, Any]:
        """Verify the RFC 8292 VAPID header and JWT; return the claims."""
        auth = headers.get("Authorization")
        if not auth:
            raise _Reject(401, f"Unauthorized: missing Authorization header; {_VAPID_HINT}")
        scheme, _, rest = auth.strip().partition(" ")
        if scheme.lower() != "vapid":
            raise _Reject(401, f"Unauthorized: unsupported scheme {scheme!r}; {_VAPID_HINT}")
        params: dict[str, str] = {}
        for part in rest.split(","):
            name, eq, value = part.strip().partition("=")
            if not eq:
                raise _Reject(401, f"Unauthorized: malformed auth-param {part!r}; {_VAPID_HINT}")
            params[name.strip().lower()] = value.strip().strip('"')
        if not params.get("t") or not params.get("k"):
            raise _Reject(401, f"Unauthorized: t and k are both required; {_VAPID_HINT}")
        try:
            key_raw = b64url_decode(params["k"])
            _load_public_key(key_raw)
        except ValueError:
            raise _Reject(
                401, "Unauthorized: k is not a base64url uncompressed P-256 public key"
            ) from None
        if sub.application_server_key is not None and key_raw != sub.application_server_key:
            raise _Reject(403, "Forbidden: k differs from the subscription's applicationServerKey")
        claims: dict[str, Any] = json.loads(_verify_jwt(params["t"], key_raw))
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        """Check aud, exp and sub as RFC 8292 §2 requires."""
        if claims.get("aud") != self._origin:
            raise _Reject(
                403, f"Forbidden: aud {claims.get('aud')!r} is not this service's {self._origin!r}"
            )
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _Reject(403, "Forbidden: exp claim missing or not a number")
        now = time.time()
        if exp <= now:
            raise _Reject(403, "Forbidden: JWT has expired")
        if exp - now > MAX_EXP_AHEAD:
            raise _Reject(403, "Forbidden: exp is more than 24 hours ahead")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            raise _Reject(403, "Forbidden: sub claim must be a mailto: or https: URI")

    # bookkeeping

    def _retry_after(self, value: int | None) -> int:
        """Return the per-subscription Retry-After or the service default."""
        return self.retry_after if value is None else value

    def _record_rejection(
        self, token: str | None, headers: Mapping[str, str], rejection: _Reject
    ) -> None:
        """Record a validation failure (also as an attempt)."""
        now = time.time()
        with self._lock:
            self._rejections.append(
                Rejection(token, rejection.status, rejection.reason, headers, now)
            )
            self._attempts.append(
                Attempt(token, rejection.status, rejection.reason, headers, None, None, now)
            )

    def _record_error(self, text: str) -> None:
        """Record an unexpected exception inside the stand-in."""
        with self._lock:
            self._errors.append(text)

    def _connection_opened(self, conn: socket.socket) -> None:
        """Count and track a new TCP connection."""
        with self._lock:
            self._connections += 1
            self._open.add(conn)

    def _connection_closed(self, conn: socket.socket) -> None:
        """Stop tracking a TCP connection."""
        with self._lock:
            self._open.discard(conn)


def _token(subscription: Subscription | str) -> str:
    """Return the endpoint token of a subscription or token string."""
    return subscription.token if isinstance(subscription, Subscription) else subscription


def _check_behaviour(behaviour: str) -> None:
    """Raise ValueError for an unknown behaviour name."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; choose from {sorted(BEHAVIOURS)}")


def _read_body(handler: _Handler) -> bytes:
    """Read a Content-Length framed body; refuse chunked, bad or huge lengths."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        raise _Reject(411, "Length Required: chunked bodies are not accepted", close=True)
    raw = handler.headers.get("Content-Length", "0").strip()
    if not _TTL.fullmatch(raw):
        raise _Reject(400, f"Bad Request: invalid Content-Length {raw!r}", close=True)
    length = int(raw)
    if length > _MAX_DRAIN:
        raise _Reject(413, f"Payload Too Large: {length} > {MAX_PAYLOAD} bytes", close=True)
    return handler.rfile.read(length)


def _check_headers(headers: Mapping[str, str], body: bytes) -> None:
    """Check TTL, Content-Encoding, Urgency and Topic (RFC 8030 §5, RFC 8291 §4)."""
    ttl = headers.get("TTL")
    if ttl is None:
        raise _Reject(400, "Bad Request: missing TTL header")
    if not _TTL.fullmatch(ttl.strip()):
        raise _Reject(400, f"Bad Request: TTL {ttl!r} is not a non-negative integer")
    encoding = headers.get("Content-Encoding")
    if encoding is None and body:
        raise _Reject(400, "Bad Request: payload without Content-Encoding: aes128gcm")
    if encoding is not None and encoding.strip().lower() != "aes128gcm":
        raise _Reject(400, f"Bad Request: Content-Encoding {encoding!r} is not aes128gcm")
    urgency = headers.get("Urgency")
    if urgency is not None and urgency.strip() not in URGENCIES:
        raise _Reject(400, f"Bad Request: Urgency {urgency!r} not in {sorted(URGENCIES)}")
    topic = headers.get("Topic")
    if topic is not None and not _TOPIC.fullmatch(topic.strip()):
        raise _Reject(400, f"Bad Request: Topic {topic!r} is not <= 32 base64url characters")


@functools.lru_cache(maxsize=256)
def _load_public_key(key_raw: bytes) -> ec.EllipticCurvePublicKey:
    """Load an uncompressed P-256 point; raise ValueError otherwise (cached)."""
    if len(key_raw) != 65 or key_raw[0] != 4:
        raise ValueError("not an uncompressed P-256 point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_raw)


@functools.lru_cache(maxsize=4096)
def _verify_jwt(token: str, key_raw: bytes) -> str:
    """Verify an ES256 JWT against the VAPID key; return its claims as JSON (cached)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise _Reject(401, "Unauthorized: t is not a JWS compact serialisation")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError:
        raise _Reject(401, "Unauthorized: JWT parts are not base64url JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise _Reject(401, "Unauthorized: JWT alg must be ES256")
    if not isinstance(claims, dict):
        raise _Reject(401, "Unauthorized: JWT claims are not a JSON object")
    if len(signature) != 64:
        raise _Reject(401, "Unauthorized: ES256 signature must be 64 bytes")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        _load_public_key(key_raw).verify(
            der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise _Reject(401, "Unauthorized: JWT signature does not verify with k") from None
    return json.dumps(claims)


def _decrypt(sub: Subscription, headers: Mapping[str, str], body: bytes) -> bytes:
    """Decrypt an RFC 8291 message; an empty body without Content-Encoding is payloadless."""
    if not body and headers.get("Content-Encoding") is None:
        return b""
    if len(body) < _AES128GCM_HEADER or body[20] != 65:
        raise _Reject(400, "Bad Request: aes128gcm keyid must be the 65-byte sender key")
    (record_size,) = struct.unpack("!L", body[16:20])
    if record_size < 18 or len(body) - _AES128GCM_HEADER > record_size:
        raise _Reject(400, "Bad Request: push messages must be one aes128gcm record")
    try:
        return sub.decrypt(body)
    except Exception as exc:
        reason = getattr(exc, "message", None) or repr(exc)
        raise _Reject(400, f"Bad Request: decryption failed: {reason}") from None


def _send(handler: _Handler, reply: _Reply) -> None:
    """Write a reply with Content-Length so keep-alive clients can reuse the connection."""
    body = f"{reply.reason}\n".encode() if reply.status >= 400 else b""
    handler.send_response(reply.status)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    if reply.close:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
