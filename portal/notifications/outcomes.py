"""What one send to one device came to, and how long to wait before trying again.

A `Job` is one notice for one device; sending it gives an `Outcome`: sent;
gone (404/410: the device is removed); permanent (413 and other refusals, a
redirect, bad subscription keys: retrying cannot help); retry (5xx,
connection errors, timeouts, and 429, which waits for Retry-After); or defer
(not sent because the push service asked us to wait). `classify` reads a
response, `classify_error` an exception; `parse_retry_after` and `backoff`
give the waits. `Stats` counts what one pass of the deliverer did.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

import requests
from pywebpush import WebPushException

# Every part of the deliverer logs as one, so one logger setting covers it.
log = logging.getLogger("portal.notifications.delivery")

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


def classify(job: Job, response: requests.Response, backoff_seconds: float) -> Outcome:
    """The outcome of a push service's answer; a 429 without Retry-After waits the base backoff."""
    status = response.status_code
    reason = f"{status} {response.reason or ''}".strip()[:200]
    if status in (200, 201, 202):
        return Outcome(job, SENT, reason)
    if status in (404, 410):
        return Outcome(job, GONE, reason)
    if status == 429:
        delay = parse_retry_after(response.headers.get("Retry-After"))
        if delay is None:
            delay = backoff_seconds
        return Outcome(job, RETRY, reason, delay)
    if status >= 500:
        return Outcome(job, RETRY, reason)
    return Outcome(job, PERMANENT, reason)  # 413, and 400/401/403: retrying cannot help


def classify_error(job: Job, error: Exception, timeout: float) -> Outcome:
    """The outcome of a send that raised instead of answering. Call it from the `except`."""
    if isinstance(error, requests.Timeout):
        return Outcome(job, RETRY, f"timed out after {timeout:g}s")
    if isinstance(error, requests.TooManyRedirects):
        return Outcome(job, PERMANENT, "push service answered with a redirect")
    if isinstance(error, requests.RequestException):
        return Outcome(job, RETRY, f"connection error ({type(error).__name__})")
    if isinstance(error, WebPushException | ValueError):
        return Outcome(job, PERMANENT, f"bad subscription keys ({type(error).__name__})")
    # A bug must not wedge the batch: retry, then fail.
    log.exception("push: unexpected error sending notice %s", job.notification_id)
    return Outcome(job, RETRY, f"unexpected error ({type(error).__name__})")


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


def backoff(base: float, attempts: int) -> float:
    """Exponential backoff: base, 2 x base, 4 x base ... capped at six hours."""
    return min(base * 2 ** max(0, attempts - 1), MAX_BACKOFF)
