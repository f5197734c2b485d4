"""Claiming due notices from the outbox, and working out which sends each one still owes.

`claim` takes a batch of due notices with a lease: a conditional UPDATE (on
PostgreSQL after `SELECT ... FOR UPDATE SKIP LOCKED`), so several deliverers
never hold the same notice, and a crashed deliverer's claims expire. `plan`
then re-checks each recipient (account disabled, category muted, quiet hours:
held, not dropped), settles the notices that need no send at once, and lists
a `Job` per device not yet served, skipping devices a `PushDelivery` mark
says received the notice before a crash or a retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.auth.models import User
from portal.extensions import db
from portal.leases import claim_due
from portal.notifications import kinds
from portal.notifications.endpoints import AllowedService, endpoint_allowed, origin_of
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationStatus,
    PushDelivery,
    PushSubscription,
)
from portal.notifications.outcomes import Job, Stats
from portal.notifications.preferences import quiet_until, zone_of


@dataclass(frozen=True)
class Pending:
    """A claimed notice being sent, as it stood when claimed."""

    id: int
    attempts: int
    served_before: bool  # some device received it already (before a crash or a retry)


@dataclass
class Recipients:
    """What the claimed notices' recipients chose and own, loaded in one query each."""

    prefs: dict[int, NotificationPreference] = field(default_factory=dict)
    zones: dict[int, str | None] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)
    devices: dict[int, list[PushSubscription]] = field(default_factory=dict)
    done: dict[int, set[int]] = field(default_factory=dict)  # notice id -> devices served


def payload_for(notice_kind: kinds.Kind, url: str) -> bytes:
    """The push message: the kind's fixed words and a portal path. No health information."""
    return json.dumps(
        {
            "title": notice_kind.title,
            "body": notice_kind.body,
            "url": url,
            "tag": notice_kind.topic,
        },
        separators=(",", ":"),
    ).encode()


def claim(
    now: datetime, *, batch_size: int, lease: timedelta, worker: str
) -> tuple[str, list[Notification]]:
    """Claim up to `batch_size` notices due at `now`: (this claim's token, the claimed rows)."""
    return claim_due(
        Notification,
        NotificationStatus.PENDING,
        now,
        batch_size=batch_size,
        lease=lease,
        worker=worker,
    )


def plan(
    claimed: list[Notification],
    now: datetime,
    stats: Stats,
    *,
    allow_list: list[AllowedService],
    ttl: int,
) -> tuple[list[Job], list[Pending]]:
    """Apply preferences, then list the sends still owed: (jobs, notices being sent)."""
    recipients = _recipients(claimed)
    jobs: list[Job] = []
    pending: list[Pending] = []
    for notice in claimed:
        spec = kinds.KINDS.get(notice.kind)
        if _settled_unsent(notice, spec, recipients, now, stats):
            continue
        payload = payload_for(spec, notice.url)
        served = recipients.done.get(notice.id, set())
        owed = [
            sub
            for sub in recipients.devices.get(notice.user_id, [])
            if sub.id not in served and endpoint_allowed(sub.endpoint, allow_list)
        ]
        if not owed:
            if served:
                _finish(notice, NotificationStatus.SENT, sent_at=now)
                stats.sent += 1
            else:
                _finish(notice, NotificationStatus.NO_DEVICE)
                stats.no_device += 1
            continue
        pending.append(Pending(notice.id, notice.attempts, bool(served)))
        for sub in owed:
            jobs.append(
                Job(
                    notification_id=notice.id,
                    subscription_id=sub.id,
                    info=sub.info,
                    origin=origin_of(sub.endpoint),
                    payload=payload,
                    ttl=spec.ttl or ttl,
                    urgency=spec.urgency,
                    topic=spec.topic,
                )
            )
    db.session.commit()  # muted, held and device-less notices are settled now
    # The rest of the pass works from plain values: nothing left for commits to expire.
    db.session.expunge_all()
    return jobs, pending


def _recipients(claimed: list[Notification]) -> Recipients:
    user_ids = {n.user_id for n in claimed}
    found = Recipients()
    found.prefs = {
        p.user_id: p
        for p in db.session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
        )
    }
    for uid, tz, is_active in db.session.execute(
        select(User.id, User.timezone, User.is_active_account).where(User.id.in_(user_ids))
    ):
        found.zones[uid] = tz
        if is_active:
            found.active.add(uid)
    for sub in db.session.scalars(
        select(PushSubscription)
        .where(PushSubscription.user_id.in_(user_ids))
        .order_by(PushSubscription.id)
    ):
        found.devices.setdefault(sub.user_id, []).append(sub)
    for notification_id, subscription_id in db.session.execute(
        select(PushDelivery.notification_id, PushDelivery.subscription_id).where(
            PushDelivery.notification_id.in_([n.id for n in claimed])
        )
    ):
        found.done.setdefault(notification_id, set()).add(subscription_id)
    return found


def _settled_unsent(
    notice: Notification,
    spec: kinds.Kind | None,
    recipients: Recipients,
    now: datetime,
    stats: Stats,
) -> bool:
    """Settle a notice that must not be sent now (unknown, disabled, muted, quiet hours)."""
    pref = recipients.prefs.get(notice.user_id)
    if spec is None:
        _finish(notice, NotificationStatus.FAILED, "unknown kind")
        stats.failed += 1
        return True
    if notice.user_id not in recipients.active:
        _finish(notice, NotificationStatus.NO_DEVICE, "account disabled")
        stats.no_device += 1
        return True
    if pref is not None and pref.is_muted(spec.category):
        _finish(notice, NotificationStatus.MUTED)
        stats.muted += 1
        return True
    held_until = quiet_until(pref, zone_of(recipients.zones.get(notice.user_id)), now)
    if held_until is not None:
        notice.not_before = held_until
        notice.claimed_by = notice.claimed_until = None
        stats.held += 1
        return True
    return False


def _finish(
    notice: Notification,
    status: NotificationStatus,
    error: str | None = None,
    *,
    sent_at: datetime | None = None,
) -> None:
    """Give a claimed notice its final state and release the claim."""
    notice.status = status
    notice.last_error = error
    notice.claimed_by = notice.claimed_until = None
    if sent_at is not None:
        notice.sent_at = sent_at
