"""Push delivery throughput: the portal's deliverer against a plain sequential pywebpush loop.

    .venv/bin/python benchmarks/push_bench.py [--count 10000] [--devices 500]

Both send the same notices to the same subscriptions on the local push-service
stand-in (tests/pushservice.py), which checks VAPID and decrypts every message.
The deliverer runs end to end: it claims from the outbox in a temporary SQLite
database, commits a delivered mark per message, and settles every notice. The
baseline calls pywebpush.webpush() once per message, as most examples do.
Target: the deliverer at >= 2x the sequential loop. Exit code 0 either way
(benchmarks report; they don't gate) unless a message was lost or refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pywebpush import webpush  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from portal import create_app  # noqa: E402
from portal.auth.models import User, UserKind  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.notifications.claims import payload_for  # noqa: E402
from portal.notifications.delivery import Deliverer  # noqa: E402
from portal.notifications.kinds import KINDS  # noqa: E402
from portal.notifications.models import Notification, PushSubscription  # noqa: E402
from tests.pushservice import PushService, new_vapid, vapid_private_key_b64  # noqa: E402

TARGET = 2.0


class RemoteStandIn:
    """The stand-in in its own process, as a real push service is: it gets a CPU of its own
    and does not compete with the sender for the interpreter lock. Driven over a pipe."""

    def __init__(self) -> None:
        parent, child = multiprocessing.Pipe()
        self._pipe = parent
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child,), daemon=True
        )

    def __enter__(self) -> RemoteStandIn:
        self._process.start()
        self.origin = self._call("origin")
        return self

    def __exit__(self, *exc) -> None:
        self._call("stop")
        self._process.join(10)

    def _call(self, command: str, *args):
        self._pipe.send((command, args))
        ok, value = self._pipe.recv()
        if not ok:
            raise RuntimeError(value)
        return value

    def new_subscriptions(self, n: int) -> list[dict]:
        return self._call("subscribe", n)

    def report(self) -> dict:
        return self._call("report")

    def clear(self) -> None:
        self._call("clear")


def _serve(pipe) -> None:
    with PushService() as service:
        while True:
            command, args = pipe.recv()
            try:
                if command == "origin":
                    pipe.send((True, service.origin))
                elif command == "subscribe":
                    pipe.send((True, [service.new_subscription().info for _ in range(args[0])]))
                elif command == "report":
                    received = service.received
                    pipe.send(
                        (
                            True,
                            {
                                "received": len(received),
                                "urls": len({json.loads(m.payload)["url"] for m in received}),
                                "rejections": len(service.rejections),
                                "connections": service.connections,
                                "errors": len(service.errors),
                            },
                        )
                    )
                elif command == "clear":
                    service.clear()
                    pipe.send((True, None))
                elif command == "stop":
                    pipe.send((True, None))
                    return
            except Exception as error:  # report to the parent instead of dying silently
                pipe.send((False, repr(error)))


def build_app(folder: str, origin: str, private_key: str):
    return create_app(
        {
            "PORTAL_ENV": "test",
            "SECRET_KEY": "push-bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
            "PUSH_SERVICE_HOSTS": origin,
            "VAPID_PRIVATE_KEY": private_key,
            "LOG_LEVEL": "WARNING",
        }
    )


def seed(app, service: RemoteStandIn, devices: int, count: int) -> list[dict]:
    """`devices` users with one subscription each, and `count` notices spread over them."""
    subscriptions = service.new_subscriptions(devices)
    with app.app_context():
        db.create_all()
        db.session.execute(
            insert(User),
            [
                {
                    "id": i + 1,
                    "email": f"bench{i}@example.com",
                    "password_hash": "x",
                    "name": f"Bench {i}",
                    "kind": UserKind.PATIENT,
                    "timezone": "UTC",
                }
                for i in range(devices)
            ],
        )
        db.session.execute(
            insert(PushSubscription),
            [
                {
                    "user_id": i + 1,
                    "endpoint": sub["endpoint"],
                    "p256dh": sub["keys"]["p256dh"],
                    "auth": sub["keys"]["auth"],
                    "label": "bench",
                }
                for i, sub in enumerate(subscriptions)
            ],
        )
        db.session.execute(
            insert(Notification),
            [
                {"user_id": n % devices + 1, "kind": "goal_reply", "url": f"/p/1/goals/{n}"}
                for n in range(count)
            ],
        )
        db.session.commit()
    return subscriptions


def sequential(infos: list[dict], count: int, private_key: str, ttl: int, subject: str) -> float:
    """The plain loop: webpush() per message, fresh claims, no session, one thread."""
    kind = KINDS["goal_reply"]
    started = time.perf_counter()
    for n in range(count):
        webpush(
            subscription_info=infos[n % len(infos)],
            data=payload_for(kind, f"/p/1/goals/{n}"),
            vapid_private_key=private_key,
            vapid_claims={"sub": subject},  # pywebpush fills in aud and exp (and mutates it)
            ttl=ttl,
            headers={"Urgency": kind.urgency, "Topic": kind.topic},
            timeout=10,
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="notifications per run")
    parser.add_argument("--devices", type=int, default=500, help="subscriptions to spread over")
    parser.add_argument("--concurrency", type=int, default=None, help="deliverer pool size")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    vapid = new_vapid()
    private_key = vapid_private_key_b64(vapid)
    with tempfile.TemporaryDirectory(prefix="push-bench-") as folder, RemoteStandIn() as service:
        app = build_app(folder, service.origin, private_key)
        infos = seed(app, service, args.devices, args.count)
        ttl, subject = app.config["PUSH_TTL_SECONDS"], app.config["VAPID_SUBJECT"]

        print(f"Sending {args.count:,} notifications to {args.devices} subscriptions ...")
        base_seconds = sequential(infos, args.count, private_key, ttl, subject)
        base = service.report()
        service.clear()

        deliverer = Deliverer(app, concurrency=args.concurrency)
        started = time.perf_counter()
        with deliverer:
            stats = deliverer.run_once()
        ours_seconds = time.perf_counter() - started
        ours = service.report()
        ok = (
            stats.sent == args.count
            and base["received"] == ours["received"] == args.count
            and ours["urls"] == args.count
            and base["rejections"] == ours["rejections"] == 0
            and base["errors"] == ours["errors"] == 0
        )
        base_rate = args.count / base_seconds
        ours_rate = args.count / ours_seconds
        ratio = ours_rate / base_rate
        print(
            f"  sequential pywebpush loop: {base_rate:8.0f} notifications/s "
            f"({base_seconds:.2f} s, {base['connections']:,} connections)"
        )
        print(
            f"  CareCircle deliverer:      {ours_rate:8.0f} notifications/s "
            f"({ours_seconds:.2f} s, {ours['connections']:,} connections, pool of "
            f"{deliverer.concurrency}, {deliverer.signer.signatures} VAPID signature(s), "
            f"outbox claims and delivered marks in SQLite included)"
        )
        print(
            f"  load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: "
            "other work on the machine slows both loops"
        )
        verdict = "meets" if ratio >= TARGET else "misses"
        print(f"  ratio: {ratio:.2f}x — {verdict} the target of {TARGET:g}x")
        if not ok:
            print(f"  ERROR: baseline {base}, deliverer {ours}, {stats}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
