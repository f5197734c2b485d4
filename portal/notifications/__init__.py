"""Push notifications: the outbox (`enqueue`), subscriptions and delivery.

Services call `enqueue(...)` in the same transaction as the change that
causes a notice. Delivery (the only pywebpush caller) drains the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import Notification


def enqueue(
    kind: str,
    user_ids: Iterable[int],
    *,
    url: str,
    patient_id: int | None = None,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> list[Notification]:
    """Add one notice of `kind` per recipient to the current transaction.

    `dedupe_key` (formatted with each `user_id`) collapses repeats: a notice
    whose key already exists is not added again.
    """
    added = []
    for user_id in dict.fromkeys(user_ids):
        key = dedupe_key.format(user_id=user_id) if dedupe_key else None
        if key and db.session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
            continue
        notice = Notification(
            user_id=user_id,
            kind=kind,
            patient_id=patient_id,
            url=url,
            dedupe_key=key,
            not_before=not_before or utcnow(),
        )
        db.session.add(notice)
        added.append(notice)
    return added
