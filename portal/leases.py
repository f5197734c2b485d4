"""Claiming due outbox rows with a lease: the push and the mail deliverers share it.

A row is due when it is pending, its `not_before` has come and no live lease
holds it. The claim marks the rows with a token and a lease end in one
conditional UPDATE and commits, so several deliverers never send the same
row; one that crashes loses its lease and the rows become due again. On
PostgreSQL the SELECT skips rows another deliverer is claiming right now.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from portal.extensions import db


def claim_due(
    model: Any, pending: Any, now: datetime, *, batch_size: int, lease: timedelta, worker: str
) -> tuple[str, list[Any]]:
    """Claim up to `batch_size` rows of `model` due at `now`: (the claim's token, the rows)."""
    free = or_(model.claimed_until.is_(None), model.claimed_until < now)
    due = (
        select(model.id)
        .where(model.status == pending, model.not_before <= now, free)
        .order_by(model.not_before, model.id)
        .limit(batch_size)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(due))
    if not ids:
        db.session.rollback()
        return "", []
    token = f"{worker}:{uuid.uuid4().hex[:8]}"[:64]
    db.session.execute(
        update(model)
        .where(model.id.in_(ids), model.status == pending, free)
        .values(claimed_by=token, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    claimed = db.session.scalars(
        select(model).where(model.claimed_by == token).order_by(model.not_before, model.id)
    )
    return token, list(claimed)
