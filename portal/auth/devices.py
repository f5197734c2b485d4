"""Your devices: an account's live sessions in words, and ending them.

Device and place are described from what the session kept: its browser's
User-Agent and the address it signed in from. The place is coarse on purpose:
this device's network, a private network, or the public address with its last
part hidden (no location database is shipped, so no city is guessed).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from portal.auth.models import AuthSession
from portal.auth.services import end_sessions, idle_minutes, security_event
from portal.db import utcnow
from portal.extensions import db

# Checked in order: Edge and Opera and Samsung's browser also say "Chrome", Chrome says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
)
_SYSTEMS = (
    ("an iPhone", re.compile(r"iPhone")),
    ("an iPad", re.compile(r"iPad")),
    ("an Android phone", re.compile(r"Android.*Mobile")),
    ("an Android tablet", re.compile(r"Android")),
    ("a Chromebook", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("a Mac", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux")),
)


def device_words(user_agent: str | None) -> str:
    """'Chrome on an Android phone', from a User-Agent header; 'An unknown device' if unclear."""
    agent = user_agent or ""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return f"{browser} browser" if browser else f"A browser on {system}"
    return "An unknown device"


def place_words(address: str | None, here: str | None) -> str:
    """Where a session signed in from, coarsely."""
    if not address:
        return "Place not known"
    if address == here:
        return "The same network as this device"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "Place not known"
    if ip.is_loopback:
        return "This computer (the portal's own machine)"
    if ip.is_private or ip.is_link_local:
        return "A private network (at home, at work or through a VPN)"
    if ip.version == 4:
        return "Internet address " + ".".join(address.split(".")[:3]) + ".x"
    network = ipaddress.ip_network(f"{address}/48", strict=False)
    return f"Internet address {network.network_address}…"


@dataclass(frozen=True)
class Device:
    session_id: int
    device: str
    place: str
    signed_in_at: datetime
    last_seen_at: datetime
    this_device: bool


def live_sessions(user_id: int, kind: str, current_session: int, here: str | None) -> list[Device]:
    """The account's signed-in sessions still within their limits, this device first."""
    from flask import current_app

    now = utcnow()
    idle_since = now - timedelta(minutes=idle_minutes(kind))
    born_since = now - timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
    rows = db.session.execute(
        select(
            AuthSession.id,
            AuthSession.user_agent,
            AuthSession.client_addr,
            AuthSession.created_at,
            AuthSession.last_seen_at,
        )
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.pending.is_(None),
            AuthSession.last_seen_at > idle_since,
            AuthSession.created_at > born_since,
        )
        .order_by(AuthSession.last_seen_at.desc())
    ).all()
    devices = [
        Device(
            row.id,
            device_words(row.user_agent),
            place_words(row.client_addr, here),
            row.created_at,
            row.last_seen_at,
            row.id == current_session,
        )
        for row in rows
    ]
    return sorted(devices, key=lambda d: not d.this_device)


def sign_out_device(user_id: int, session_id: int) -> bool:
    """End one of the account's own sessions; False if it is not theirs or already ended."""
    ended = db.session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        return False
    security_event(user_id, "session_ended")
    return True


def sign_out_others(user_id: int, current_session: int) -> int:
    """End every session of the account but this one; how many ended."""
    count = end_sessions(user_id, keep=current_session)
    if count:
        security_event(user_id, "sessions_ended")
    return count
