"""The deliverer: drains the outbox to the push services with pywebpush (the only caller).

One pass (`Deliverer.run_once`) repeats until nothing is due:

1. claim a batch of due notices with a lease: a conditional UPDATE (on
   PostgreSQL after `SELECT ... FOR UPDATE SKIP LOCKED`), so several deliverers
   never hold the same notice; a crashed deliverer's claims expire;
2. re-check the recipient's preferences (muted, quiet hours: held, not dropped);
3. send to each of the recipient's devices from a bounded thread pool, with a
   `requests.Session` per push-service origin (keep-alive) and a VAPID token
   signed once per origin while it is valid; every send has a timeout;
4. as each send succeeds, commit a delivered mark (`PushDelivery`): a retry or
   a restart after a crash skips devices already served;
5. settle each notice: sent; 404/410 delete the device; 413 and other refusals
   fail at once; 429 waits for Retry-After; 5xx, connection errors and
   timeouts retry with exponential backoff, then fail with the reason.

Logs name notice ids, push-service origins and HTTP statuses: never a payload,
an endpoint path, or anything about a patient.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time as _time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from flask import Flask
from pywebpush import WebPusher, WebPushException
from requests.adapters import HTTPAdapter
from sqlalchemy import bindparam, delete, func, or_, select, update

from portal.auth.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.notifications import kinds, vapid
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationStatus,
    PushDelivery,
    PushSubscription,
)
from portal.notifications.services import (
    endpoint_allowed,
    origin_of,
    parse_allow_list,
    quiet_until,
    zone_of,
)
from portal.notifications.transport import PushTransport

log = logging.getLogger(__name__)

SENT, GONE, PERMANENT, RETRY, DEFER = "sent", "gone", "permanent", "retry", "defer"
MAX_BACKOFF = 6 * 3600


@dataclass(frozen=True)
class Job:
    """One notice to one device."""

    notification_id: int
    subscription_id: int
    info: dict
    origin: str
    payload: bytes
    ttl: int
    urgency: str
    topic: str


@dataclass(frozen=True)
class Outcome:
    job: Job
    result: str  # SENT, GONE, PERMANENT, RETRY, DEFER
    reason: str = ""
    delay: float = 0.0  # RETRY/DEFER: seconds before the next attempt (Retry-After)


@dataclass(frozen=True)
class Pending:
    """A claimed notice being sent, as it stood when claimed."""

    id: int
    attempts: int
    served_before: bool  # some device received it already (before a crash or a retry)


@dataclass
class Stats:
    """What one pass did, by notice (`messages` counts sends to devices)."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    muted: int = 0
    held: int = 0
    no_device: int = 0
    messages: int = 0
    removed_devices: int = 0

    def add(self, other: Stats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else _time.time()))


def _proxied_session(origin: str, proxies: dict[str, str], concurrency: int) -> requests.Session:
    """A requests session for a push service reached through a proxy."""
    session = requests.Session()
    session.mount(
        origin + "/", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency, max_retries=0)
    )
    session.max_redirects = 0  # a push service never redirects a message elsewhere
    session.proxies.update(proxies)
    session.trust_env = False  # settings were read once, above; not ~/.netrc per message
    return session


class Deliverer:
    """Drains the outbox. Use as a context manager (it owns a thread pool and sessions)."""

    def __init__(
        self,
        app: Flask,
        *,
        concurrency: int | None = None,
        timeout: float | None = None,
        batch_size: int = 500,
        lease_seconds: int | None = None,
        max_attempts: int | None = None,
        backoff_seconds: float | None = None,
        worker: str | None = None,
        signer: vapid.VapidSigner | None = None,
    ) -> None:
        cfg = app.config
        self.app = app
        self.concurrency = max(1, concurrency or cfg["PUSH_CONCURRENCY"])
        self.timeout = float(timeout or cfg["PUSH_TIMEOUT_SECONDS"])
        self.batch_size = batch_size
        # The lease must outlast a batch in which every send times out; a crashed
        # deliverer's notices wait this long before another deliverer takes them.
        worst_batch = -(-batch_size // self.concurrency) * self.timeout * 1.5 + 60
        self.lease = timedelta(
            seconds=max(lease_seconds or cfg.get("PUSH_LEASE_SECONDS", 600), worst_batch)
        )
        self.max_attempts = max_attempts or cfg["PUSH_MAX_ATTEMPTS"]
        self.backoff = float(backoff_seconds or cfg.get("PUSH_BACKOFF_SECONDS", 30))
        self.ttl = int(cfg["PUSH_TTL_SECONDS"])
        if self.ttl <= 0:
            raise ValueError("PUSH_TTL_SECONDS must be positive: a TTL of 0 drops offline notices")
        self.allow_list = parse_allow_list(cfg["PUSH_SERVICE_HOSTS"])
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.signer = signer or vapid.VapidSigner(vapid.server_key(app), cfg["VAPID_SUBJECT"])
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="push")
        self._sessions: dict[str, requests.Session | PushTransport] = {}
        self._sessions_lock = threading.Lock()
        # origin -> when its 429 wait ends, on the clock of the pass (`now`)
        self._paused: dict[str, datetime] = {}
        self._now = utcnow()
        self._token = ""  # the claim of the pass in hand

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._sessions_lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def session_for(self, origin: str) -> requests.Session | PushTransport:
        """One keep-alive client per push service, shared by the pool's threads.

        The lean transport where no proxy applies (it costs a fraction of the
        CPU of requests per message); a requests session behind a proxy.
        """
        with self._sessions_lock:
            session = self._sessions.get(origin)
            if session is None:
                # Proxy settings from the environment are read once here, not per message.
                proxies = requests.utils.get_environ_proxies(origin)
                if requests.utils.select_proxy(origin, proxies) is None:
                    session = PushTransport(origin)
                else:
                    session = _proxied_session(origin, proxies, self.concurrency)
                self._sessions[origin] = session
            return session

    # -- one pass -------------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None, *, max_batches: int | None = None) -> Stats:
        """Deliver everything due at `now` (default: the current time), batch after batch."""
        total = Stats()
        batches = 0
        with self.app.app_context():
            try:
                while max_batches is None or batches < max_batches:
                    stats = self.deliver_batch(now)
                    batches += 1
                    total.add(stats)
                    if stats.claimed < self.batch_size:
                        break
            finally:
                db.session.remove()
        return total

    def deliver_batch(self, now: datetime | None = None) -> Stats:
        """Claim one batch, send it, settle it. Needs an app context."""
        now = now or utcnow()
        self._now = now
        stats = Stats()
        claimed = self._claim(now)
        stats.claimed = len(claimed)
        if not claimed:
            return stats
        jobs, pending = self._plan(claimed, now, stats)
        outcomes: dict[int, list[Outcome]] = {n.id: [] for n in pending}
        for outcome in self._send_all(jobs):
            outcomes[outcome.job.notification_id].append(outcome)
            if outcome.result == SENT:
                stats.messages += 1
        self._settle(pending, outcomes, now, stats)
        db.session.commit()
        return stats

    def _claim(self, now: datetime) -> list[Notification]:
        free = or_(Notification.claimed_until.is_(None), Notification.claimed_until < now)
        due = (
            select(Notification.id)
            .where(
                Notification.status == NotificationStatus.PENDING,
                Notification.not_before <= now,
                free,
            )
            .order_by(Notification.not_before, Notification.id)
            .limit(self.batch_size)
        )
        if db.session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(due))
        if not ids:
            db.session.rollback()
            return []
        token = self._token = f"{self.worker}:{uuid.uuid4().hex[:8]}"[:64]
        db.session.execute(
            update(Notification)
            .where(
                Notification.id.in_(ids),
                Notification.status == NotificationStatus.PENDING,
                free,
            )
            .values(claimed_by=token, claimed_until=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return list(
            db.session.scalars(
                select(Notification)
                .where(Notification.claimed_by == token)
                .order_by(Notification.not_before, Notification.id)
            )
        )

    def _plan(
        self, claimed: list[Notification], now: datetime, stats: Stats
    ) -> tuple[list[Job], list[Pending]]:
        """Apply preferences, then list the sends still owed: (jobs, notices being sent)."""
        user_ids = {n.user_id for n in claimed}
        prefs = {
            p.user_id: p
            for p in db.session.scalars(
                select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
            )
        }
        zones, active = {}, set()
        for uid, tz, is_active in db.session.execute(
            select(User.id, User.timezone, User.is_active_account).where(User.id.in_(user_ids))
        ):
            zones[uid] = tz
            if is_active:
                active.add(uid)
        devices: dict[int, list[PushSubscription]] = {}
        for sub in db.session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id.in_(user_ids))
            .order_by(PushSubscription.id)
        ):
            devices.setdefault(sub.user_id, []).append(sub)
        done: dict[int, set[int]] = {}
        for notification_id, subscription_id in db.session.execute(
            select(PushDelivery.notification_id, PushDelivery.subscription_id).where(
                PushDelivery.notification_id.in_([n.id for n in claimed])
            )
        ):
            done.setdefault(notification_id, set()).add(subscription_id)

        jobs: list[Job] = []
        pending: list[Pending] = []
        for notice in claimed:
            spec = kinds.KINDS.get(notice.kind)
            pref = prefs.get(notice.user_id)
            if spec is None:
                self._finish(notice, NotificationStatus.FAILED, "unknown kind")
                stats.failed += 1
                continue
            if notice.user_id not in active:
                self._finish(notice, NotificationStatus.NO_DEVICE, "account disabled")
                stats.no_device += 1
                continue
            if pref is not None and pref.is_muted(spec.category):
                self._finish(notice, NotificationStatus.MUTED)
                stats.muted += 1
                continue
            held_until = quiet_until(pref, zone_of(zones.get(notice.user_id)), now)
            if held_until is not None:
                notice.not_before = held_until
                notice.claimed_by = notice.claimed_until = None
                stats.held += 1
                continue
            payload = payload_for(spec, notice.url)
            owed = [
                sub
                for sub in devices.get(notice.user_id, [])
                if sub.id not in done.get(notice.id, set())
                and endpoint_allowed(sub.endpoint, self.allow_list)
            ]
            if not owed:
                if done.get(notice.id):
                    self._finish(notice, NotificationStatus.SENT, sent_at=now)
                    stats.sent += 1
                else:
                    self._finish(notice, NotificationStatus.NO_DEVICE)
                    stats.no_device += 1
                continue
            pending.append(Pending(notice.id, notice.attempts, bool(done.get(notice.id))))
            for sub in owed:
                jobs.append(
                    Job(
                        notification_id=notice.id,
                        subscription_id=sub.id,
                        info=sub.info,
                        origin=origin_of(sub.endpoint),
                        payload=payload,
                        ttl=spec.ttl or self.ttl,
                        urgency=spec.urgency,
                        topic=spec.topic,
                    )
                )
        db.session.commit()  # muted, held and device-less notices are settled now
        # The rest of the pass works from plain values: nothing left for commits to expire.
        db.session.expunge_all()
        return jobs, pending

    # -- sending --------------------------------------------------------------------------------

    def _send_all(self, jobs: list[Job]) -> Iterator[Outcome]:
        """Send from the pool, at most twice the pool size in flight; yield as sends complete.

        Sends that complete together are marked in one commit (a group commit)
        before their outcomes are handed on and more sends start. If handling
        fails, no further sends start, and those in flight are waited for and
        marked before the error propagates.
        """
        queue = iter(jobs)
        in_flight: set[Future[Outcome]] = set()

        def top_up() -> None:
            while len(in_flight) < self.concurrency * 2:
                job = next(queue, None)
                if job is None:
                    return
                in_flight.add(self._pool.submit(self.send, job))

        top_up()
        try:
            while in_flight:
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                top_up()
                outcomes = [future.result() for future in finished]
                self._record(outcomes)
                yield from outcomes
        except BaseException:
            queue = iter(())
            for future in in_flight:
                future.cancel()
            leftovers = [f.result() for f in in_flight if not f.cancelled() and not f.exception()]
            try:
                self._record(leftovers)
            except Exception:  # keep the first error; the lease covers the rest
                log.exception("push: could not record sends while stopping")
            raise

    def _record(self, outcomes: list[Outcome]) -> None:
        """Commit what sends mean for their devices: delivered marks, or removal."""
        at = utcnow()
        sent = [o.job for o in outcomes if o.result == SENT]
        gone = [o.job for o in outcomes if o.result == GONE]
        if not sent and not gone:
            return
        if sent:
            db.session.connection().execute(
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

    def send(self, job: Job) -> Outcome:
        """Send one message (runs on a pool thread; touches no database)."""
        paused = self._paused.get(job.origin)
        if paused is not None and paused > self._now:
            wait_left = (paused - self._now).total_seconds()
            return Outcome(job, DEFER, "push service asked us to wait", wait_left)
        headers = {
            "Authorization": self.signer.authorization(job.origin),
            "Urgency": job.urgency,
            "Topic": job.topic,
        }
        try:
            response = WebPusher(job.info, requests_session=self.session_for(job.origin)).send(
                job.payload,
                headers,
                ttl=job.ttl,
                content_encoding="aes128gcm",
                timeout=self.timeout,
            )
        except requests.Timeout:
            return Outcome(job, RETRY, f"timed out after {self.timeout:g}s")
        except requests.TooManyRedirects:
            return Outcome(job, PERMANENT, "push service answered with a redirect")
        except requests.RequestException as error:
            return Outcome(job, RETRY, f"connection error ({type(error).__name__})")
        except (WebPushException, ValueError) as error:
            return Outcome(job, PERMANENT, f"bad subscription keys ({type(error).__name__})")
        except Exception as error:  # a bug must not wedge the batch: retry, then fail
            log.exception("push: unexpected error sending notice %s", job.notification_id)
            return Outcome(job, RETRY, f"unexpected error ({type(error).__name__})")
        return self._classify(job, response)

    def _classify(self, job: Job, response: requests.Response) -> Outcome:
        status = response.status_code
        reason = f"{status} {response.reason or ''}".strip()[:200]
        if status in (200, 201, 202):
            return Outcome(job, SENT, reason)
        if status in (404, 410):
            return Outcome(job, GONE, reason)
        if status == 429:
            delay = parse_retry_after(response.headers.get("Retry-After"))
            if delay is None:
                delay = self.backoff
            self._paused[job.origin] = self._now + timedelta(seconds=delay)
            return Outcome(job, RETRY, reason, delay)
        if status >= 500:
            return Outcome(job, RETRY, reason)
        return Outcome(job, PERMANENT, reason)  # 413, and 400/401/403: retrying cannot help

    # -- settling -------------------------------------------------------------------------------

    def _settle(
        self,
        notices: list[Pending],
        outcomes: dict[int, list[Outcome]],
        now: datetime,
        stats: Stats,
    ) -> None:
        """Write each notice's new state in one statement, only while this pass holds its claim."""
        changes = []
        for notice in notices:
            results = outcomes[notice.id]
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
                if attempts >= self.max_attempts:
                    change["b_status"] = NotificationStatus.FAILED
                    change["b_error"] = f"gave up after {attempts} attempts: {reason}"
                    stats.failed += 1
                    log.warning("push: notice %s failed: %s", notice.id, change["b_error"])
                else:
                    # Retry-After where the service gave one, else backoff; the longest wins.
                    delays = [o.delay for o in retry + defer if o.delay]
                    if any(not o.delay for o in retry) or not delays:
                        delays.append(self.backoff_for(attempts))
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
            changes.append(change)
        if not changes:
            return
        table = Notification.__table__
        statement = (
            table.update()
            .where(table.c.id == bindparam("b_id"), table.c.claimed_by == self._token)
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
        db.session.connection().execute(statement, changes)

    def backoff_for(self, attempts: int) -> float:
        """Exponential backoff: base, 2 x base, 4 x base ... capped at six hours."""
        return min(self.backoff * 2 ** max(0, attempts - 1), MAX_BACKOFF)

    @staticmethod
    def _finish(
        notice: Notification,
        status: NotificationStatus,
        error: str | None = None,
        *,
        sent_at: datetime | None = None,
    ) -> None:
        notice.status = status
        notice.last_error = error
        notice.claimed_by = notice.claimed_until = None
        if sent_at is not None:
            notice.sent_at = sent_at


def deliver_forever(
    app: Flask,
    *,
    interval: float = 5.0,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = utcnow,
    reminders_every: float = 60.0,
    on_pass: Callable[[Stats], None] | None = None,
) -> None:
    """The `--loop` mode: enqueue due reminders, drain the outbox, wait, repeat until `stop`."""
    from portal.notifications.services import enqueue_due_reminders

    stop = stop or threading.Event()
    last_reminders = 0.0
    with Deliverer(app) as deliverer:
        while not stop.is_set():
            try:
                if _time.monotonic() - last_reminders >= reminders_every:
                    with app.app_context():
                        enqueue_due_reminders(clock())
                        db.session.commit()
                        db.session.remove()
                    last_reminders = _time.monotonic()
                stats = deliverer.run_once(clock())
                if on_pass is not None:
                    on_pass(stats)
            except Exception:  # a database hiccup must not stop notifications for good
                log.exception("push: delivery pass failed; trying again shortly")
                stats = Stats()
            if stats.claimed == 0:
                stop.wait(interval)
