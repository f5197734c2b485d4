"""A lean keep-alive HTTP transport for push services.

`requests` spent more CPU than the encryption on every message: preparing the
request, merging settings, adapters and urllib3's pool. The deliverer is
CPU-bound under the GIL, so that overhead capped its rate. `PushTransport`
offers the one call pywebpush makes (`post(url, data=..., headers=...,
timeout=...)`) over plain `http.client` connections: one keep-alive connection
per sending thread and push service, TLS verified with the system's CA store.

Failures surface as `requests` exceptions (Timeout, ConnectionError), so the
deliverer classifies them the same way whichever transport sent. Redirects
are never followed: a push service does not redirect a message elsewhere.
The deliverer uses this only where no proxy applies; behind a proxy it keeps
the `requests` session, which knows how to reach it.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict


@dataclass
class PushResponse:
    """The parts of a response the deliverer and pywebpush read."""

    status_code: int
    reason: str
    headers: CaseInsensitiveDict
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class PushTransport:
    """`post()` to one push-service origin over per-thread keep-alive connections."""

    def __init__(self, origin: str) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an origin: {origin!r}")
        self.origin = origin
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.connections_opened = 0

    def post(
        self,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> PushResponse:
        """Send one POST and read the whole answer (so the connection can be reused)."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}".lower() != self.origin.lower():
            raise ValueError("this transport only posts to its own origin")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection, reused = self._connection(timeout)
        try:
            try:
                response, content = _exchange(connection, target, data, headers)
            except _STALE:
                if not reused:
                    raise
                # The service closed this idle connection as we sent: no answer came
                # back at all. Once, on a fresh connection (a rare duplicate collapses
                # on the device by its Topic; a lost notice would not come back).
                self._discard(connection)
                connection, _ = self._connection(timeout)
                response, content = _exchange(connection, target, data, headers)
        except TimeoutError as error:
            self._discard(connection)
            raise requests.Timeout(str(error) or "timed out") from error
        except (OSError, http.client.HTTPException) as error:
            self._discard(connection)
            raise requests.ConnectionError(f"{type(error).__name__}: {error}") from error
        if response.will_close:
            self._discard(connection)
        return PushResponse(
            response.status,
            response.reason or "",
            CaseInsensitiveDict(response.getheaders()),
            content,
        )

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()

    # -- connections ------------------------------------------------------------------

    def _connection(self, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it has carried a request before."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and (connection.sock is None or _dropped(connection.sock)):
            self._discard(connection)  # the service closed an idle connection: start afresh
            connection = None
        if connection is None:
            return self._open(timeout), False
        connection.sock.settimeout(timeout)
        return connection, True

    def _open(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._tls is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._local.connection = connection
        with self._lock:
            self._all.append(connection)
            self.connections_opened += 1
        return connection

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)


# How a request on a connection the other end has just closed fails, before any answer.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _exchange(connection, target: str, data: bytes | None, headers: dict[str, str] | None):
    connection.request("POST", target, body=data or b"", headers=headers or {})
    response = connection.getresponse()
    return response, response.read()


def _dropped(sock: socket.socket) -> bool:
    """True when an idle keep-alive socket was closed by the other end (it reads as ready)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
