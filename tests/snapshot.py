"""The demo clinic, seeded once and restored for each test that asks for it.

Seeding the demo clinic runs the whole of `portal.demo.seed()` through the ORM
(every account, plan, goal, entry, decision and grant, each insert firing the
version triggers): it was most of the suite's time, since hundreds of tests
and every state-changing request of the access matrix start from it. The
database a seed leaves behind is the same every time, so it is taken once and
put back:

- SQLite: the seeded database file is copied with SQLite's backup API into an
  in-memory database, and copied back page for page. The restored file is the
  seeded one byte for byte: rows, `sqlite_sequence`, triggers, everything.
- PostgreSQL: the rows of every table are read once and written back with
  triggers off (`session_replication_role = replica`), so the versions the
  triggers kept during the real seed come back as they were instead of being
  renewed by the restore; each sequence is set back to where the seed left it.

A snapshot may be taken on top of another (`on=`): the access matrix keeps
the demo clinic with every matrix account signed in, so its hundreds of
requests do not each sign in through the form first. It is reused only while
the one it was built on is the current one, and ages with it.

The demo clinic is dated ("today", "two hours ago", a grant that ended last
month), so a snapshot is only reused on the day it was taken and for a few
minutes; after that the next test seeds afresh. The kept-page cache is emptied
after every test already (conftest.empty_database), so no page kept for one
test's clinic is served to the next.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import Table, text

from portal.extensions import db

# The demo's times are relative to the seed ("logged two hours ago"); a snapshot
# older than this is seeded afresh, so no test sees the clinic much older than
# a real seed would leave it.
MAX_AGE_SECONDS = 300.0


@dataclass
class _Snapshot:
    key: tuple[str, date]
    taken: float
    ids: Any
    base: _Snapshot | None = None
    sqlite: sqlite3.Connection | None = None
    rows: list[tuple[Table, list[dict[str, Any]]]] = field(default_factory=list)
    sequences: list[tuple[str, int, bool]] = field(default_factory=list)

    def fresh(self, key: tuple[str, date]) -> bool:
        return self.key == key and time.monotonic() - self.taken < MAX_AGE_SECONDS

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()


_snapshots: dict[str, _Snapshot] = {}
# SQLite: the database as it is with every row deleted, copied back instead of
# deleting table by table (the first emptying of the session takes it).
_blank: sqlite3.Connection | None = None


def empty(app: Flask) -> None:
    """Delete every row of every table (within an app context, no session open)."""
    global _blank
    engine = db.engine
    if engine.dialect.name == "postgresql":
        # One round trip, triggers off: the version triggers would only renew
        # versions of rows deleted in the same statement list (foreign keys are
        # triggers too, and every table is emptied).
        tables = reversed(db.metadata.sorted_tables)
        statements = [f'DELETE FROM "{t.name}"' for t in tables]  # noqa: S608  (our own tables)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "SET LOCAL session_replication_role = replica; " + "; ".join(statements)
            )
        return
    if engine.dialect.name == "sqlite" and _blank is not None:
        raw = engine.raw_connection()
        try:
            _blank.backup(raw.driver_connection)
            restored = True
        except sqlite3.OperationalError:  # another connection still busy: delete instead
            restored = False
        finally:
            raw.close()
        if restored:
            _forget_schemas(engine)
            return
    with engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    if engine.dialect.name == "sqlite" and _blank is None:
        raw = engine.raw_connection()
        try:
            _blank = sqlite3.connect(":memory:", check_same_thread=False)
            raw.driver_connection.backup(_blank)
        finally:
            raw.close()


def _forget_schemas(engine) -> None:
    """Close the pool's other SQLite connections after a backup wrote the file under them.

    Each connection caches the schema and re-reads it only when the file's schema
    cookie differs from the one it read. The backup API sets the cookie to the
    destination's old value plus one, which another connection may have seen
    before with a different schema (a test that dropped and re-created the audit
    triggers, after one that opened connections from several threads): it would
    then go on with the stale schema ("DROP TRIGGER IF EXISTS" finding nothing,
    the next "CREATE TRIGGER" failing with "already exists"). New connections
    read the schema afresh.
    """
    engine.dispose()


def seeded(app: Flask, seed: Callable[[], Any], name: str = "demo", on: str | None = None) -> Any:
    """Fill the (empty) database with what `seed()` writes: restored if a fresh copy is kept.

    `name` tells snapshots apart; one taken `on` another (whose `seeded` call
    `seed()` makes) is kept only as long as that one is, and counts its age from it.
    """
    key = (str(app.config["SQLALCHEMY_DATABASE_URI"]), date.today())
    kept = _snapshots.get(name)
    if kept is not None and kept.fresh(key) and (on is None or kept.base is _snapshots.get(on)):
        _restore(app, kept)
        return kept.ids
    if kept is not None:
        kept.close()
        del _snapshots[name]
    ids = seed()
    base = _snapshots.get(on) if on is not None else None
    taken = base.taken if base is not None else time.monotonic()
    _snapshots[name] = _take(app, key, ids, taken, base)
    return ids


def _take(
    app: Flask, key: tuple[str, date], ids: Any, taken: float, base: _Snapshot | None
) -> _Snapshot:
    snapshot = _Snapshot(key=key, taken=taken, ids=ids, base=base)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()
            try:
                copy = sqlite3.connect(":memory:", check_same_thread=False)
                raw.driver_connection.backup(copy)
                snapshot.sqlite = copy
            finally:
                raw.close()
            return snapshot
        with engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                rows = [dict(row._mapping) for row in conn.execute(table.select())]
                if rows:
                    snapshot.rows.append((table, rows))
            for table in db.metadata.sorted_tables:
                for column in table.primary_key.columns:
                    sequence = conn.scalar(
                        text("SELECT pg_get_serial_sequence(:t, :c)"),
                        {"t": table.name, "c": column.name},
                    )
                    if sequence:
                        last, called = conn.execute(
                            text(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
                        ).one()
                        snapshot.sequences.append((sequence, last, called))
    return snapshot


def _restore(app: Flask, snapshot: _Snapshot) -> None:
    with app.app_context():
        engine = db.engine
        if snapshot.sqlite is not None:
            raw = engine.raw_connection()
            try:
                snapshot.sqlite.backup(raw.driver_connection)
            finally:
                raw.close()
            _forget_schemas(engine)
            return
        with engine.begin() as conn:
            # Triggers off for this transaction only: the rows come back as the
            # seed's triggers left them (versions included), not renewed again.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table, rows in snapshot.rows:
                conn.execute(table.insert(), rows)
            # One round trip for every sequence, not one each.
            if snapshot.sequences:
                calls, params = [], {}
                for n, (sequence, last, called) in enumerate(snapshot.sequences):
                    calls.append(f"setval(:s{n}, :v{n}, :c{n})")
                    params.update({f"s{n}": sequence, f"v{n}": last, f"c{n}": called})
                conn.execute(text("SELECT " + ", ".join(calls)), params)
