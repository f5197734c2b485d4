"""Writing back what the sends of a pass came to: for each device, then for each notice.

`record` commits, as sends complete, a delivered mark (`PushDelivery`) per
device served and removes devices the push service says are gone, so a retry
or a restart after a crash skips devices already served. `settle` then gives
each notice its new state in one statement, only while the pass still holds
its claim: sent; failed with the reason; or pending again after the longest
of Retry-After and exponential backoff, until `max_attempts` gives up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, update

from portal import transaction
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.claims import Pending
from portal.notifications.models import (
    Notification,
    NotificationStatus,
    PushDelivery,
    PushSubscription,
)
from portal.notifications.outcomes import (
    DEFER,
    GONE,
    PERMANENT,
    RETRY,
    SENT,
    Outcome,
    Stats,
    backoff,
)

# Every part of the deliverer logs as one, so one logger setting covers it.
log = logging.getLogger("portal.notifications.delivery")


def record(outcomes: list[Outcome]) -> None:
    """Commit what sends mean for their devices: delivered marks, or removal."""
    at = utcnow()
    sent = [o.job for o in outcomes if o.result == SENT]
    gone = [o.job for o in outcomes if o.result == GONE]
    if not sent and not gone:
        return
    if sent:
        transaction.connection().execute(
            PushDelivery.__table__.insert(),
            [
                {
                    "notification_id": job.notification_id,
                    "subscription_id": job.subscription_id,
                    "sent_at": at,
                }
                for job in sent
            ],
        )
        db.session.execute(
            update(PushSubscription)
            .where(PushSubscription.id.in_({job.subscription_id for job in sent}))
            .values(last_success_at=at)
            .execution_options(synchronize_session=False)
        )
    if gone:
        db.session.execute(
            delete(PushSubscription)
            .where(PushSubscription.id.in_({job.subscription_id for job in gone}))
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    for job in gone:
        log.info("push: removed device %s (gone)", job.subscription_id)


def settle(
    notices: list[Pending],
    outcomes: dict[int, list[Outcome]],
    now: datetime,
    stats: Stats,
    *,
    token: str,
    max_attempts: int,
    backoff_seconds: float,
) -> None:
    """Write each notice's new state in one statement, only while claim `token` holds it."""
    changes = [
        _change(notice, outcomes[notice.id], now, stats, max_attempts, backoff_seconds)
        for notice in notices
    ]
    if not changes:
        return
    table = Notification.__table__
    statement = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.claimed_by == token)
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            not_before=func.coalesce(
                bindparam("b_not_before", type_=table.c.not_before.type), table.c.not_before
            ),
            sent_at=func.coalesce(
                bindparam("b_sent_at", type_=table.c.sent_at.type), table.c.sent_at
            ),
            last_error=bindparam("b_error"),
            claimed_by=None,
            claimed_until=None,
        )
    )
    transaction.connection().execute(statement, changes)


def _change(
    notice: Pending,
    results: list[Outcome],
    now: datetime,
    stats: Stats,
    max_attempts: int,
    backoff_seconds: float,
) -> dict:
    """One notice's new state, as bind values for `settle`'s statement."""
    delivered = notice.served_before or any(o.result == SENT for o in results)
    retry = [o for o in results if o.result == RETRY]
    defer = [o for o in results if o.result == DEFER]  # not sent: no attempt counted
    permanent = [o for o in results if o.result == PERMANENT]
    change = {
        "b_id": notice.id,
        "b_attempts": notice.attempts,
        "b_not_before": None,
        "b_sent_at": None,
        "b_error": None,
    }
    stats.removed_devices += sum(o.result == GONE for o in results)
    if retry or defer:
        attempts = notice.attempts + (1 if retry else 0)
        reason = (retry or defer)[0].reason
        change["b_attempts"] = attempts
        if attempts >= max_attempts:
            change["b_status"] = NotificationStatus.FAILED
            change["b_error"] = f"gave up after {attempts} attempts: {reason}"
            stats.failed += 1
            log.warning("push: notice %s failed: %s", notice.id, change["b_error"])
        else:
            # Retry-After where the service gave one, else backoff; the longest wins.
            delays = [o.delay for o in retry + defer if o.delay]
            if any(not o.delay for o in retry) or not delays:
                delays.append(backoff(backoff_seconds, attempts))
            delay = max(delays)
            change["b_status"] = NotificationStatus.PENDING
            change["b_not_before"] = now + timedelta(seconds=delay)
            change["b_error"] = reason
            stats.retried += 1
            log.info("push: notice %s retries in %.0fs (%s)", notice.id, delay, reason)
    elif delivered:
        change["b_status"] = NotificationStatus.SENT
        change["b_sent_at"] = now
        change["b_error"] = permanent[0].reason if permanent else None
        stats.sent += 1
    elif permanent:
        change["b_status"] = NotificationStatus.FAILED
        change["b_error"] = permanent[0].reason
        stats.failed += 1
        log.warning("push: notice %s failed: %s", notice.id, change["b_error"])
    else:  # every device was gone
        change["b_status"] = NotificationStatus.NO_DEVICE
        change["b_error"] = results[0].reason
        stats.no_device += 1
    return change
