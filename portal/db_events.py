"""Engine settings per database: SQLite gets WAL, foreign keys and a long busy timeout.

pysqlite opens a transaction only right before an INSERT/UPDATE/DELETE, so a
request's reads run outside it and its first write starts from a fresh
snapshot (it waits for the write lock instead of failing). A SAVEPOINT is the
exception: outside a transaction SQLite treats it as a *deferred* BEGIN, whose
reads then make the later write fail at once with "database is locked" when
another process committed meanwhile, and whose RELEASE commits early. So a
savepoint that would start the transaction first opens a real one, IMMEDIATE
(taking the write lock, waiting for it if need be).

Waiting for the lock is SQLite's busy handler, which polls and is not fair: a
request that keeps losing to others could wait past a short timeout. With 32
workers posting entries, 5 s answered 500 "database is locked" to 7 of 160
requests; a request now waits as long as gunicorn lets a worker live (30 s).
Keeping the time the lock is held short matters more: the entry POST reads
everything first and writes last (portal/goals/entries.py). And the portal's
own writers do not meet the busy handler's sleeps among themselves: they wait
their turn in a queue the kernel wakes (portal/sqlite_queue.py).

A commit appends the pages it changed to the write-ahead log; a checkpoint
copies the newest version of each page back into the database file, and runs
in the request whose commit crossed the threshold. At SQLite's default (1,000
pages) the spread entry POST checkpointed often, each time copying again the
same hot pages (the patient's version, the day totals, the audit trail's tail,
the indexes' last leaves). Every 10,000 pages (about 40 MiB of log) answered
6% more of those POSTs (interleaved A/B, 6 rounds each, 2026-12-04); the log
file is cut back to 64 MiB after a checkpoint if a long reader let it grow
past that.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.sqlite_queue import QueuedConnection

BUSY_TIMEOUT_MS = 30_000  # gunicorn's default worker timeout: wait, never fail
WAL_CHECKPOINT_PAGES = 10_000  # pages of log before a commit checkpoints (default 1,000)
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the log is cut back to after a checkpoint


def engine_options(uri: str, options: dict[str, Any]) -> dict[str, Any]:
    """`SQLALCHEMY_ENGINE_OPTIONS` for `uri`: on SQLite, connections whose writers queue."""
    if not uri.startswith("sqlite"):
        return options
    connect_args = {"factory": QueuedConnection, **options.get("connect_args", {})}
    return {**options, "connect_args": connect_args}


def configure_engine(engine: Engine) -> None:
    """Apply per-connection pragmas on SQLite; nothing to do on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()

    @event.listens_for(engine, "savepoint")
    def _transaction_before_savepoint(connection, name) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if not dbapi_connection.in_transaction:
            dbapi_connection.execute("BEGIN IMMEDIATE")
