"""The outbox: `enqueue` adds notices to the caller's transaction; the deliverer sends them.

One row per recipient, in the same transaction as the change that causes it,
so a notice exists exactly when its cause was saved. A `dedupe_key` collapses
repeats in the database (`ON CONFLICT DO NOTHING` on PostgreSQL and SQLite),
a muted category keeps the row as `muted`, and quiet hours move `not_before`
to their end. `portal_path` and `hour_bucket` build a notice's url and the
hourly part of a digest's key without a request (the deliverer has none).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.auth.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.notifications import kinds
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationStatus,
)
from portal.notifications.preferences import quiet_until, zone_of

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
    now = now or utcnow()
    recipients = list(dict.fromkeys(user_ids))
    keys = {uid: dedupe_key.format(user_id=uid) for uid in recipients} if dedupe_key else {}
    if keys:
        # A digest already queued this hour is the common case: one query, then done.
        taken = set(
            db.session.scalars(
                select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys.values()))
            )
        )
        recipients = [uid for uid in recipients if keys[uid] not in taken]
    if not recipients:
        return []
    rows = _rows(spec, recipients, keys, now, max(not_before or now, now))
    for row in rows:
        row.update(kind=kind, patient_id=patient_id, url=url, created_at=now)
    insert = _UPSERT_INSERTS.get(db.session.get_bind().dialect.name)
    if not keys or insert is None:
        added = [Notification(**row) for row in rows]
        db.session.add_all(added)
        return added
    # One statement for every recipient; a racing transaction's copy wins quietly.
    ids = db.session.scalars(
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)
    ).all()
    if not ids:
        return []
    return list(db.session.scalars(select(Notification).where(Notification.id.in_(ids))))


def _rows(spec, recipients: list[int], keys: dict[int, str], now: datetime, due: datetime):
    """Each recipient's row: muted if they turned the category off, held through quiet hours."""
    prefs = {
        p.user_id: p
        for p in db.session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id.in_(recipients))
        )
    }
    zones = dict(
        db.session.execute(select(User.id, User.timezone).where(User.id.in_(recipients))).all()
    )
    rows = []
    for user_id in recipients:
        pref = prefs.get(user_id)
        status, when = NotificationStatus.PENDING, due
        if pref is not None and pref.is_muted(spec.category):
            status = NotificationStatus.MUTED
        else:
            when = quiet_until(pref, zone_of(zones.get(user_id)), due) or due
        rows.append(
            {
                "user_id": user_id,
                "dedupe_key": keys.get(user_id),
                "not_before": when,
                "status": status,
            }
        )
    return rows


def portal_path(endpoint: str, **values) -> str:
    """A path inside the portal, built without a request (the deliverer has none)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def hour_bucket(now: datetime | None = None) -> str:
    """The UTC hour a digest belongs to, for dedupe keys: '2026112614'."""
    return (now or utcnow()).astimezone(UTC).strftime("%Y%m%d%H")
