"""Counting failed sign-ins so that concurrent guesses are each counted, on SQLite and PostgreSQL.

A counter is one `login_throttles` row per key (an account's hashed email, a
client address, a second-factor step). A failure is ONE statement,
`INSERT ... ON CONFLICT (key) DO UPDATE SET failures = failures + 1 ...
RETURNING failures`: the database serialises it on the row, so twenty-four
wrong passwords sent at once make twenty-four, and no two requests race to
insert the same key (the old read-then-write lost counts and clashed on the
primary key). The lock that follows is a second statement that only ever moves
`locked_until` later, so concurrent failures settle on the longest lock.

Locks are soft: a few free tries, then doubling waits, at most
`LOGIN_LOCK_MINUTES`; a quiet day forgets the count. Nobody can lock an
account for good, and the owner gets a mail when the lock first closes.

Flask-Limiter is not used: its storages are process memory, Redis, Memcached
and MongoDB. Memory breaks with several app processes (DESIGN: no per-process
state another process needs), and the others would add a server this portal
does not run; these counters also need rules a window limiter does not have
(reset on success, growing delays, a mail at a threshold).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from portal.auth.models import LoginThrottle
from portal.db import insert_ignoring_duplicates
from portal.extensions import db

# A count untouched this long starts again from nothing.
FORGET_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Policy:
    """How many failures are free, when waits begin to double, and when the full lock starts."""

    slow_after: int
    lock_after: int
    lock_minutes: int

    def lock_for(self, failures: int) -> timedelta | None:
        """How long the key must wait after its `failures`-th failure (None: not at all)."""
        if failures >= self.lock_after:
            return timedelta(minutes=self.lock_minutes)
        if failures >= self.slow_after:
            # 5 s, 10 s, 20 s, ... never longer than the full lock.
            seconds = 5 * 2 ** min(failures - self.slow_after, 20)
            return min(timedelta(seconds=seconds), timedelta(minutes=self.lock_minutes))
        return None


def account_policy() -> Policy:
    cfg = current_app.config
    return Policy(cfg["LOGIN_SLOW_AFTER"], cfg["LOGIN_LOCK_AFTER"], cfg["LOGIN_LOCK_MINUTES"])


def address_policy() -> Policy:
    """One client address may mistype for many people (a clinic's shared NAT): a wider allowance."""
    cfg = current_app.config
    return Policy(
        cfg["LOGIN_ADDRESS_SLOW_AFTER"], cfg["LOGIN_ADDRESS_LOCK_AFTER"], cfg["LOGIN_LOCK_MINUTES"]
    )


def key(kind: str, value: str) -> str:
    """A counter's key: a hash, so the table holds no addresses (emails: services._throttle_key)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def wait(keys: list[str], now: datetime) -> timedelta | None:
    """The longest wait any of `keys` is under now, or None."""
    until = db.session.scalar(
        select(LoginThrottle.locked_until)
        .where(LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc())
        .limit(1)
    )
    return None if until is None else until - now


def count_failure(throttle_key: str, policy: Policy, now: datetime, *, lock: bool = True) -> int:
    """Count one failure atomically; set the lock it earns (unless `lock` is off); the count.

    A try refused while waiting is counted too (`lock=False`): every guess shows
    in the count, but only a password actually checked and wrong makes the wait
    longer, so a stranger cannot keep extending it by knocking.
    """
    table = LoginThrottle.__table__
    stmt = insert_ignoring_duplicates(table, db.session.get_bind().dialect.name).values(
        key=throttle_key, failures=1, last_failure_at=now
    )
    stale = now - FORGET_AFTER
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "failures": db.case((table.c.last_failure_at < stale, 1), else_=table.c.failures + 1),
            "last_failure_at": now,
        },
    ).returning(table.c.failures)
    failures = db.session.execute(stmt).scalar_one()
    wait = policy.lock_for(failures) if lock else None
    if wait is not None:
        until = now + wait
        db.session.execute(
            update(LoginThrottle)
            .where(
                LoginThrottle.key == throttle_key,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < until),
            )
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        )
    return failures


def clear(throttle_key: str) -> None:
    """Forget a key's failures (after a successful sign-in, or a new password)."""
    db.session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.key == throttle_key)
        .execution_options(synchronize_session=False)
    )
