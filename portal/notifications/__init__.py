"""Push notifications: the outbox (`enqueue`), devices, preferences and delivery.

Services call `enqueue(...)` in the same transaction as the change that
causes a notice. The deliverer (`portal.notifications.delivery`, the only
pywebpush caller) drains the outbox: `flask --app wsgi notify deliver [--loop]`.
Kinds of notice, with their words, live in `portal.notifications.kinds`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.db import utcnow
from portal.extensions import db
from portal.notifications import kinds
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationStatus,
)

_UPSERT_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def _check_url(url: str) -> None:
    if not url.startswith("/") or url.startswith("//") or "\\" in url or len(url) > 300:
        raise ValueError("a notice's url must be a path inside the portal, like /p/1/plan")


def enqueue(
    kind: str,
    user_ids: Iterable[int],
    *,
    url: str,
    patient_id: int | None = None,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Add one notice of `kind` per recipient to the current transaction.

    `dedupe_key` (formatted with each `user_id`) collapses repeats: a notice
    whose key already exists is not added again, also when two transactions
    race to add it. A recipient who turned the kind's category off gets a
    notice kept as `muted` (never sent); one inside quiet hours gets a notice
    held until they end. `now` defaults to the current time (tests pass it).
    """
    spec = kinds.kind(kind)
    _check_url(url)
    from portal.auth.models import User
    from portal.notifications.services import quiet_until, zone_of

    now = now or utcnow()
    due = max(not_before or now, now)
    recipients = list(dict.fromkeys(user_ids))
    if not recipients:
        return []
    prefs = {
        p.user_id: p
        for p in db.session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id.in_(recipients))
        )
    }
    zones = dict(
        db.session.execute(select(User.id, User.timezone).where(User.id.in_(recipients))).all()
    )
    insert = _UPSERT_INSERTS.get(db.session.get_bind().dialect.name)
    added = []
    for user_id in recipients:
        pref = prefs.get(user_id)
        status = NotificationStatus.PENDING
        when = due
        if pref is not None and pref.is_muted(spec.category):
            status = NotificationStatus.MUTED
        else:
            when = quiet_until(pref, zone_of(zones.get(user_id)), due) or due
        key = dedupe_key.format(user_id=user_id) if dedupe_key else None
        values = dict(
            user_id=user_id,
            kind=kind,
            patient_id=patient_id,
            url=url,
            dedupe_key=key,
            created_at=now,
            not_before=when,
            status=status,
        )
        if key is None:
            notice = Notification(**values)
            db.session.add(notice)
            added.append(notice)
        elif insert is not None:
            new_id = db.session.scalar(
                insert(Notification)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
                .returning(Notification.id)
            )
            if new_id is not None:
                added.append(db.session.get(Notification, new_id))
        elif not db.session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
            notice = Notification(**values)
            db.session.add(notice)
            added.append(notice)
    return added
