"""Queueing mail: `compose` renders and seals a message, `add` puts it in the transaction.

`queue` does both. A mail is rendered from `templates/mail/<template>.txt` and
`.html` (plain text and HTML parts) with `link(...)` building absolute URLs
from PUBLIC_URL, since the mail is read outside the portal. Templates get
only what the person needs to act: never a goal, a concern or a discipline.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template

from portal.db import utcnow
from portal.extensions import db
from portal.mail import seal
from portal.mail.models import OutboxMail


@dataclass(frozen=True)
class Composed:
    """A rendered, sealed message not yet in the outbox."""

    kind: str
    sealed: str
    message_id: str


def public_host() -> str:
    """The portal's host name, for the sender and Message-IDs ("localhost" for an IP address)."""
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return "localhost"  # no-reply@127.0.0.1 is not an address mail servers accept


def link(endpoint: str, **values: Any) -> str:
    """An absolute URL for a mail, built from PUBLIC_URL without a request."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["PUBLIC_URL"] + path


def sender() -> str:
    """MAIL_DEFAULT_SENDER, or no-reply at the portal's own host."""
    return current_app.config["MAIL_DEFAULT_SENDER"] or f"CareCircle <no-reply@{public_host()}>"


def compose(kind: str, to: str, subject: str, template: str, **context: Any) -> Composed:
    """Render both parts of a mail and seal it (the same work whether or not it is queued)."""
    context.update(subject=subject, public_url=current_app.config["PUBLIC_URL"])
    message = {
        "to": to,
        "subject": subject,
        "text": render_template(f"mail/{template}.txt", **context),
        "html": render_template(f"mail/{template}.html", **context),
    }
    return Composed(kind, seal.seal(message), make_msgid("carecircle", domain=public_host()))


def add(composed: Composed, *, user_id: int | None = None) -> OutboxMail:
    """Add a composed mail to the current transaction: it is sent only if that commits."""
    now = utcnow()
    mail = OutboxMail(
        kind=composed.kind,
        user_id=user_id,
        message_id=composed.message_id,
        sealed=composed.sealed,
        created_at=now,
        not_before=now,
    )
    db.session.add(mail)
    return mail


def queue(
    kind: str, to: str, subject: str, template: str, *, user_id: int | None = None, **context: Any
) -> OutboxMail:
    """Render, seal and add one mail to the current transaction."""
    return add(compose(kind, to, subject, template, **context), user_id=user_id)


def mask(address: str) -> str:
    """An address as logs may show it: 'a***@example.com'."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"
