"""Concurrent requests on the same database: nothing fails, nothing is stored twice.

On SQLite this guards portal/db_events.py: writers wait for the write lock
(the busy timeout, and a real BEGIN IMMEDIATE before any savepoint) instead
of failing with "database is locked". tests/test_entry_concurrency.py does the
same over real HTTP with many patients at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from portal.extensions import db
from portal.goals.models import Goal, ProgressEntry


def test_concurrent_entries_and_reads_all_succeed(demo, app):
    with app.app_context():
        goal_id = db.session.scalar(
            select(Goal.id).where(Goal.patient_id == demo.alex, Goal.measure == "minutes")
        )
        before = db.session.scalar(select(func.count()).select_from(ProgressEntry))
    clients = [demo.login("alex@example.com") for _ in range(6)]
    url = f"/api/v1/patients/{demo.alex}/goals/{goal_id}/entries"
    keys = [str(uuid.uuid4()) for _ in range(60)]

    def work(n: int) -> int:
        client = clients[n % len(clients)]
        if n % 3 == 0:
            return client.get(f"/p/{demo.alex}/plan").status_code
        key = keys[n % len(keys)]
        return client.api(
            "POST", url, json={"value": 20}, headers={"Idempotency-Key": key}
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = Counter(pool.map(work, range(180)))
    # Each key is sent three times (n, n + 60, n + 120): stored once, then replayed.
    assert set(statuses) <= {200, 201}, statuses
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(ProgressEntry))
    posted_keys = {keys[n % len(keys)] for n in range(180) if n % 3}
    assert after - before == len(posted_keys)
    assert statuses[201] == len(posted_keys)
