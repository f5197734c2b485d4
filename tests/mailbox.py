"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and the deliverer.

Tests read every mail from here: the deliverer sends it over SMTP, as in
production, and the server parses nothing more than a mail client would.
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from portal.mail.delivery import MailDeliverer, MailStats


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


class _Keeper:
    """Keeps each message; refuses recipients at bounce.example as a real server would."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.endswith("@bounce.example"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPServer:
    """aiosmtpd on 127.0.0.1; `down()` and `up()` stop and restart it on the same port."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.port = _free_port()
        self.keeper = _Keeper()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return self.keeper.received

    def up(self) -> None:
        self._controller = Controller(self.keeper, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def deliver(self, now: datetime | None = None) -> MailStats:
        """Run one pass of the real deliverer against this server."""
        return MailDeliverer(self.app).run_once(now)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]

    def one_to(self, address: str) -> Received:
        self.deliver()
        found = self.to(address)
        assert len(found) == 1, (
            f"{len(found)} mails to {address}: {[m.message['Subject'] for m in self.messages]}"
        )
        return found[0]


@pytest.fixture()
def smtp(app: Flask) -> Iterator[SMTPServer]:
    """A live SMTP server, with the app's MAIL_SERVER pointing at it for this test."""
    server = SMTPServer(app)
    saved = {key: app.config[key] for key in ("MAIL_SERVER", "MAIL_PORT")}
    server.up()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    try:
        yield server
    finally:
        server.down()
        app.config.update(saved)
