"""Where mail goes: an SMTP server (smtplib), or the console in development.

`SMTPTransport` opens one connection per delivery pass, lazily, with a
timeout on every step, over implicit TLS (`MAIL_USE_SSL`) or STARTTLS
(`MAIL_USE_TLS`) with certificate checks, and signs in when
`MAIL_USERNAME` is set. `ConsoleTransport` prints each mail instead: that
is what development does without `MAIL_SERVER`.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import cache
from typing import Any, Protocol, TextIO


def build_message(
    message: dict[str, Any], *, sender: str, message_id: str, created: float
) -> EmailMessage:
    """The MIME message: plain text, and the same words as HTML (multipart/alternative)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message["to"]
    mail["Subject"] = message["subject"]
    mail["Date"] = formatdate(created)
    mail["Message-ID"] = message_id
    # Out-of-office replies and the like are not sent back to an automatic mail.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message["text"])
    mail.add_alternative(message["html"], subtype="html")
    return mail


class Transport(Protocol):
    def send(self, mail: EmailMessage) -> None: ...

    def close(self) -> None: ...


@cache
def _tls_context() -> ssl.SSLContext:
    """The verifying TLS context, made once per process: loading the system's certificate
    authorities takes tens of milliseconds, and every deliverer pass would pay it again."""
    return ssl.create_default_context()


class SMTPTransport:
    """Sends over one SMTP connection, opened at the first message and reused."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.host = config["MAIL_SERVER"]
        self.port = int(config["MAIL_PORT"])
        self.use_ssl = bool(config["MAIL_USE_SSL"])
        self.use_tls = bool(config["MAIL_USE_TLS"])
        self.username = config["MAIL_USERNAME"]
        self.password = config["MAIL_PASSWORD"]
        self.timeout = float(config["MAIL_TIMEOUT_SECONDS"])
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = _tls_context()
        if self.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, mail: EmailMessage) -> None:
        """Send one message; raises smtplib/OS errors for the deliverer to classify."""
        if self._smtp is None:
            self._smtp = self._connect()
        envelope_from = parseaddr(str(mail["From"]))[1]
        try:
            self._smtp.send_message(mail, from_addr=envelope_from, to_addrs=[str(mail["To"])])
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()  # the next message opens a new connection
            raise
        except smtplib.SMTPRecipientsRefused:
            try:
                self._smtp.rset()  # keep the connection for the batch's other messages
            except (smtplib.SMTPException, OSError):
                self.close()
            raise

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


class ConsoleTransport:
    """Development without MAIL_SERVER: print each mail's headers and text for the developer."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, mail: EmailMessage) -> None:
        text = mail.get_body(preferencelist=("plain",))
        out = self.stream or sys.stdout
        rule = "-" * 72
        out.write(
            f"{rule}\nMail (not sent: no MAIL_SERVER is set)\n"
            f"From: {mail['From']}\nTo: {mail['To']}\nSubject: {mail['Subject']}\n\n"
            f"{text.get_content().rstrip() if text else ''}\n{rule}\n"
        )
        out.flush()

    def close(self) -> None:
        pass


def transport_for(config: dict[str, Any]) -> Transport:
    """SMTP when MAIL_SERVER is set; otherwise the console (production refuses to start)."""
    if config["MAIL_SERVER"]:
        return SMTPTransport(config)
    return ConsoleTransport()
