"""The deliverer's keep-alive transport: reuse, reconnects, timeouts, proxies."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from portal.notifications.delivery import Deliverer
from portal.notifications.transport import PushTransport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PushLike"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.bodies.append(body)
        if self.server.hang_up:
            self.close_connection = True  # no answer at all
            return
        if self.server.delay:
            self.server.release.wait(self.server.delay)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.send_header("Location", "/message/1")
        self.end_headers()
        if self.server.drop_after_reply:
            # Close without "Connection: close", as a service dropping an idle client does.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.connections = 0
        self.drop_after_reply = False
        self.hang_up = False
        self.delay = 0.0
        self.release = threading.Event()

    def process_request(self, request, client_address) -> None:
        self.connections += 1
        super().process_request(request, client_address)


@pytest.fixture()
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _origin(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_reuses_one_connection_per_thread(server):
    transport = PushTransport(_origin(server))
    for n in range(5):
        response = transport.post(f"{_origin(server)}/push/a", data=b"x%d" % n, timeout=5)
        assert response.status_code == 201 and response.headers["location"] == "/message/1"
    assert server.bodies == [b"x0", b"x1", b"x2", b"x3", b"x4"]
    assert server.connections == 1
    transport.close()


def test_reconnects_when_the_service_dropped_an_idle_connection(server):
    server.drop_after_reply = True
    transport = PushTransport(_origin(server))
    for _ in range(3):
        assert transport.post(f"{_origin(server)}/push/a", data=b"x", timeout=5).status_code == 201
    assert len(server.bodies) == 3  # each sent once, none lost to the dead socket
    assert server.connections == 3
    transport.close()


def test_timeout_is_a_requests_timeout(server):
    server.delay = 5
    transport = PushTransport(_origin(server))
    with pytest.raises(requests.Timeout):
        transport.post(f"{_origin(server)}/push/slow", data=b"x", timeout=0.2)
    transport.close()


def test_refused_connection_is_a_requests_connection_error():
    transport = PushTransport("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(requests.ConnectionError):
        transport.post("http://127.0.0.1:9/push/a", data=b"x", timeout=1)


def test_posts_only_to_its_own_origin(server):
    transport = PushTransport(_origin(server))
    with pytest.raises(ValueError, match="own origin"):
        transport.post("http://127.0.0.1:1/push/a", data=b"x", timeout=1)


def test_behind_a_proxy_the_deliverer_keeps_requests(app, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Deliverer(app, signer=object()) as deliverer:
        proxied = deliverer.session_for("https://fcm.googleapis.com")
        direct = deliverer.session_for("http://127.0.0.1:8099")
    assert isinstance(proxied, requests.Session)
    assert proxied.proxies["https"] == "http://proxy.internal:3128"
    assert isinstance(direct, PushTransport)


def test_a_fresh_connection_that_fails_is_not_sent_again(server):
    """Only a reused (possibly stale) connection is retried, and only once."""
    server.hang_up = True
    transport = PushTransport(_origin(server))
    with pytest.raises(requests.ConnectionError):
        transport.post(f"{_origin(server)}/push/a", data=b"once", timeout=5)
    assert server.bodies == [b"once"]
    transport.close()
