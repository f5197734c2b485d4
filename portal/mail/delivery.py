"""The mail deliverer: claims due mails with a lease, sends them, settles each at once.

At-least-once, and no duplicates as far as SMTP allows: a batch is claimed
with a lease (a conditional UPDATE, after `SELECT ... FOR UPDATE SKIP LOCKED`
on PostgreSQL), so several deliverers never hold the same mail, and a crashed
deliverer's mails wait until its lease ends. Each mail is marked sent in its
own commit right after the server accepts it, so only a crash between the
server's "250" and that commit can send a mail twice; the retry then carries
the same Message-ID. A server that is down or answers 4xx defers the mail with
exponential backoff; a 5xx refusal, or MAIL_MAX_ATTEMPTS tries, gives it up.

Logs name mail ids, kinds and masked addresses: never a body or a full address.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
import time as _time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, update

from portal.auth import tokens
from portal.db import utcnow
from portal.extensions import db
from portal.leases import claim_due
from portal.mail import seal
from portal.mail.models import MailStatus, OutboxMail
from portal.mail.outbox import mask, sender
from portal.mail.transport import Transport, build_message, transport_for

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)


@dataclass
class MailStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    trouble: bool = False  # the server could not be reached: stop this pass


class ServerTrouble(Exception):
    """The mail server cannot be reached or will not talk: the rest of the batch waits too."""


def _classify(error: Exception) -> tuple[bool, bool]:
    """(permanent, server trouble) for a failed send."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return all(code >= 500 for code in codes), False
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return False, True  # a setting to fix; the mail must wait, not be lost
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500 and error.smtp_code != 552, False
    return False, True  # refused connection, timeout, disconnect, TLS failure


def _reason(error: Exception) -> str:
    """A short reason for the record, without addresses (servers echo them back)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        return f"recipient refused ({', '.join(map(str, codes))})"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__} {error.smtp_code}"
    return type(error).__name__


class MailDeliverer:
    """Drains the mail outbox. One pass: `run_once`; the `--loop` mode: `deliver_forever`."""

    def __init__(
        self,
        app: Flask,
        *,
        batch_size: int = 50,
        worker: str | None = None,
        transport: Callable[[], Transport] | None = None,
    ) -> None:
        cfg = app.config
        self.app = app
        self.batch_size = batch_size
        self.max_attempts = int(cfg["MAIL_MAX_ATTEMPTS"])
        self.backoff = float(cfg["MAIL_BACKOFF_SECONDS"])
        # The lease outlasts a batch whose every step times out (connect, TLS, sign-in, data).
        worst_batch = batch_size * float(cfg["MAIL_TIMEOUT_SECONDS"]) + 60
        self.lease = timedelta(seconds=max(float(cfg["MAIL_LEASE_SECONDS"]), worst_batch))
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.new_transport = transport or (lambda: transport_for(cfg))

    def run_once(self, now: datetime | None = None) -> MailStats:
        """Send everything due at `now` (default: the current time), batch after batch."""
        total = MailStats()
        with self.app.app_context():
            transport = self.new_transport()
            try:
                while True:
                    stats = self.deliver_batch(transport, now or utcnow())
                    for name in ("claimed", "sent", "retried", "failed"):
                        setattr(total, name, getattr(total, name) + getattr(stats, name))
                    total.trouble = total.trouble or stats.trouble
                    if stats.claimed < self.batch_size or stats.trouble:
                        break  # nothing more due, or the server is in trouble
            finally:
                transport.close()
                db.session.remove()
        return total

    def claim(self, now: datetime) -> tuple[str, list[OutboxMail]]:
        """Claim up to batch_size due mails: (this claim's token, the claimed rows)."""
        token, rows = claim_due(
            OutboxMail,
            MailStatus.PENDING,
            now,
            batch_size=self.batch_size,
            lease=self.lease,
            worker=self.worker,
        )
        # Detached, the rows keep their values through the commits that settle each one.
        db.session.expunge_all()
        return token, rows

    def deliver_batch(self, transport: Transport, now: datetime) -> MailStats:
        """Claim one batch and send it, settling each mail as it goes. Needs an app context."""
        stats = MailStats()
        token, claimed = self.claim(now)
        stats.claimed = len(claimed)
        for index, mail in enumerate(claimed):
            try:
                self._send_one(transport, mail, token, now, stats)
            except ServerTrouble as trouble:
                # The server is down or refuses us: the rest of the batch waits with this mail.
                stats.trouble = True
                for waiting in claimed[index + 1 :]:
                    self._settle(waiting, token, MailStatus.PENDING, not_before=trouble.args[0])
                db.session.commit()
                break
        return stats

    def _send_one(self, transport: Transport, mail: OutboxMail, token: str, now, stats) -> None:
        try:
            message = seal.unseal(mail.sealed or "")
        except seal.Unreadable:
            self._give_up(mail, token, "cannot be opened: SECRET_KEY changed", stats)
            return
        built = build_message(
            message,
            sender=sender(),
            message_id=mail.message_id,
            created=mail.created_at.timestamp(),
        )
        try:
            transport.send(built)
        except (smtplib.SMTPException, OSError) as error:
            self._failed(mail, token, now, error, stats, to=mask(message["to"]))
            return
        self._settle(mail, token, MailStatus.SENT, sent_at=utcnow(), wipe=True)
        db.session.commit()  # at once: a crash later in the batch must not resend this one
        stats.sent += 1
        log.info("mail %s (%s) to %s sent", mail.id, mail.kind, mask(message["to"]))

    def _failed(self, mail: OutboxMail, token: str, now, error: Exception, stats, *, to) -> None:
        permanent, trouble = _classify(error)
        attempts = mail.attempts + 1
        delay = min(timedelta(seconds=self.backoff * 2 ** (attempts - 1)), MAX_BACKOFF)
        if permanent or attempts >= self.max_attempts:
            self._give_up(mail, token, _reason(error), stats, attempts=attempts, to=to)
            if trouble:
                raise ServerTrouble(now + timedelta(seconds=self.backoff))
            return
        self._settle(
            mail,
            token,
            MailStatus.PENDING,
            attempts=attempts,
            not_before=now + delay,
            last_error=_reason(error),
        )
        db.session.commit()
        stats.retried += 1
        log.warning(
            "mail %s (%s) to %s: %s; retry in %s", mail.id, mail.kind, to, _reason(error), delay
        )
        if trouble:
            raise ServerTrouble(now + delay)

    def _give_up(self, mail, token: str, reason: str, stats, *, attempts=None, to="?") -> None:
        self._settle(
            mail,
            token,
            MailStatus.FAILED,
            attempts=attempts or mail.attempts + 1,
            last_error=reason,
            wipe=True,
        )
        db.session.commit()
        stats.failed += 1
        log.error("mail %s (%s) to %s given up: %s", mail.id, mail.kind, to, reason)

    def _settle(self, mail: OutboxMail, token: str, status: MailStatus, *, wipe=False, **values):
        """Give a claimed mail its new state, only while this pass still holds its claim."""
        if wipe:
            values["sealed"] = None  # a settled mail keeps no content (and no live link)
        db.session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail.id, OutboxMail.claimed_by == token)
            .values(status=status, claimed_by=None, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )


# Settled mails (their content already wiped) are kept this long for the record.
KEEP_SETTLED = timedelta(days=30)
# Expired links are kept a day, so a late click is still told "used or run out".
KEEP_EXPIRED_LINKS = timedelta(days=1)


def housekeeping(app: Flask, now: datetime) -> tuple[int, int]:
    """Delete old settled mails and long-expired links: (mails, links) deleted."""
    with app.app_context():
        try:
            mails = db.session.execute(
                delete(OutboxMail)
                .where(
                    OutboxMail.status != MailStatus.PENDING,
                    OutboxMail.created_at < now - KEEP_SETTLED,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            links = tokens.purge(now - KEEP_EXPIRED_LINKS)
            db.session.commit()
        finally:
            db.session.remove()
    return mails, links


def deliver_forever(
    app: Flask,
    *,
    interval: float = 5.0,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = utcnow,
    housekeeping_every: float = 3600.0,
) -> None:
    """The `--loop` mode: drain the outbox, wait, repeat until `stop` is set (tidying hourly)."""
    stop = stop or threading.Event()
    deliverer = MailDeliverer(app)
    last_tidy = -housekeeping_every
    while not stop.is_set():
        try:
            if _time.monotonic() - last_tidy >= housekeeping_every:
                housekeeping(app, clock())
                last_tidy = _time.monotonic()
            stats = deliverer.run_once(clock())
        except Exception:  # a database hiccup must not stop mail for good
            log.exception("mail: delivery pass failed; trying again shortly")
            stats = MailStats()
        if stats.claimed == 0 or stats.trouble:
            stop.wait(interval)
