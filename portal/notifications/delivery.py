"""The deliverer: drains the outbox to the push services with pywebpush (the only caller).

One pass (`Deliverer.run_once`) repeats until nothing is due: claim a batch of
due notices with a lease and work out the sends each still owes
(`claims.py`); send to each device from a bounded thread pool, with one
keep-alive client per push-service origin and a VAPID token signed once per
origin while it is valid, every send with a timeout; as sends complete, commit
their delivered marks, then settle each notice (`settle.py`) by what its sends
came to (`outcomes.py`: 404/410, 429 and Retry-After, 5xx and backoff).
`deliver_forever` is the `--loop` mode, which also enqueues daily reminders.

Logs name notice ids, push-service origins and HTTP statuses: never a payload,
an endpoint path, or anything about a patient.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time as _time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

import requests
from flask import Flask
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter

from portal.db import utcnow
from portal.extensions import db
from portal.notifications import claims, settle, vapid
from portal.notifications.endpoints import parse_allow_list
from portal.notifications.models import Notification
from portal.notifications.outcomes import (
    DEFER,
    SENT,
    Job,
    Outcome,
    Stats,
    classify,
    classify_error,
)
from portal.notifications.reminders import enqueue_due_reminders
from portal.notifications.transport import PushTransport

log = logging.getLogger(__name__)


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
        jobs, pending = claims.plan(claimed, now, stats, allow_list=self.allow_list, ttl=self.ttl)
        outcomes: dict[int, list[Outcome]] = {n.id: [] for n in pending}
        for outcome in self._send_all(jobs):
            outcomes[outcome.job.notification_id].append(outcome)
            if outcome.result == SENT:
                stats.messages += 1
        settle.settle(
            pending,
            outcomes,
            now,
            stats,
            token=self._token,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff,
        )
        db.session.commit()
        return stats

    def _claim(self, now: datetime) -> list[Notification]:
        """Claim a batch due at `now` for this pass (the pass settles under its token)."""
        self._token, claimed = claims.claim(
            now, batch_size=self.batch_size, lease=self.lease, worker=self.worker
        )
        return claimed

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
        """Commit what completed sends mean for their devices: delivered marks, or removal."""
        settle.record(outcomes)

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
        except Exception as error:  # each kind of failure is an outcome; see classify_error
            return classify_error(job, error, self.timeout)
        outcome = classify(job, response, self.backoff)
        if response.status_code == 429:  # hold this push service's other sends too
            self._paused[job.origin] = self._now + timedelta(seconds=outcome.delay)
        return outcome


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
