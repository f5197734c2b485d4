"""SQLite writers wait in a queue the kernel wakes, not in SQLite's busy handler.

SQLite lets one connection write at a time. A connection that finds the write
lock taken runs its busy handler, which sleeps 1 ms, then 2, then 5, and tries
again: it does not learn when the lock is let go. An entry POST holds the lock
for a few tenths of a millisecond (its INSERT, the audit row, COMMIT), so a
writer that lost the race slept up to ten times as long as it had to wait.
Under the bench's spread entry POST each worker spent about a tenth of its
time asleep there (py-spy with idle samples), with the machine 16% idle.

So every connection this portal opens to a SQLite file first queues on an
exclusive `flock` of a file beside the database (`<database>-writers`) before
the statement that opens a write transaction, and lets go when that
transaction ends (COMMIT, ROLLBACK, the connection's close). The kernel hands
the lock to the next waiter the moment it is free. SQLite's own lock still
decides who writes; the queue only orders the writers of this portal's
processes before they reach it, so a writer that does not use it (the
`sqlite3` shell, a script) is still safe and meets SQLite's busy handler as
before.

Which statements open a write transaction is decided as `sqlite3` decides it
(Python 3.11's legacy transaction control): an INSERT, UPDATE, DELETE or
REPLACE outside a transaction makes it BEGIN first, and the portal's own
`BEGIN IMMEDIATE` (portal/db_events.py) takes the write lock at once. A read
never queues, nor does a script run with `executescript` (nothing here does).

One process holds the queue for one connection at a time: a second connection
of the same process that wants to write while the first is in line does not
queue behind its own process (which could wait forever), but meets SQLite's
busy handler and its timeout, as before.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
import weakref
from typing import Any

# The statements after which sqlite3 (isolation_level "") has begun a transaction
# that writes: its own test is the first keyword, after spaces and comments.
# A BEGIN IMMEDIATE or EXCLUSIVE takes the write lock whatever the isolation level.
_FIRST_WORDS = re.compile(
    r"(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:(insert|update|delete|replace)|begin\s+(?:immediate|exclusive))\b",
    re.IGNORECASE | re.DOTALL,
)


class _Queue:
    """The writers' queue of one database file, as this process sees it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._reset()

    def _reset(self) -> None:
        self.pid = os.getpid()
        self.fd: int | None = None  # opened on first use, in the process that uses it
        # The connection in line, weakly: one dropped without a close (its
        # transaction then rolled back by sqlite3) lets the queue go with it.
        self.owner: weakref.ref[QueuedConnection] | None = None
        self.guard = threading.Lock()  # held while a connection of this process is in line

    def enter(self, connection: QueuedConnection) -> None:
        if self.pid != os.getpid():
            self._reset()  # a forked child: its parent's place in line is not its own
        if self.holds(connection) or not self.guard.acquire(blocking=False):
            return  # in line already, or another connection of this process is
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            self.guard.release()  # no queue (a read-only directory): SQLite's own wait
            return
        self.owner = weakref.ref(connection, self._dropped)

    def holds(self, connection: QueuedConnection) -> bool:
        return self.owner is not None and self.owner() is connection

    def leave(self, connection: QueuedConnection) -> None:
        if self.holds(connection) and self.pid == os.getpid():
            self._let_go()

    def _dropped(self, owner: weakref.ref[QueuedConnection]) -> None:
        if self.owner is owner and self.pid == os.getpid():
            self._let_go()

    def _let_go(self) -> None:
        self.owner = None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.guard.release()


_queues: dict[str, _Queue] = {}
_queues_guard = threading.Lock()


def _queue_for(database: Any) -> _Queue | None:
    name = os.fsdecode(database)
    if not name or name == ":memory:" or name.startswith("file:"):
        return None  # no file of its own to queue beside (URI names are not used here)
    path = os.path.abspath(name) + "-writers"
    with _queues_guard:
        return _queues.setdefault(path, _Queue(path))


class QueuedCursor(sqlite3.Cursor):
    """A cursor whose statements that begin a write transaction first queue for it."""

    def execute(self, sql: str, parameters: Any = (), /) -> QueuedCursor:
        return self.connection._in_turn(super().execute, sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> QueuedCursor:
        return self.connection._in_turn(super().executemany, sql, parameters)


class QueuedConnection(sqlite3.Connection):
    """`sqlite3.connect(..., factory=QueuedConnection)`: writers queue (module docstring)."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._queue = _queue_for(database)

    def cursor(self, factory: Any = QueuedCursor) -> Any:
        return super().cursor(factory)

    # sqlite3's own shortcuts make a plain cursor: these make a queued one.
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> Any:
        # A script does not queue (its statements meet SQLite's busy handler), but
        # it commits what was open first: that ends this connection's turn.
        try:
            return super().executescript(script)
        finally:
            self._after()

    def _in_turn(self, run: Any, sql: str, parameters: Any) -> Any:
        """`run(sql, parameters)`, first queuing if it opens a write transaction."""
        self._before(sql)
        try:
            return run(sql, parameters)
        finally:
            self._after()

    def _before(self, sql: str) -> None:
        if self._queue is None or self.in_transaction:
            return
        words = _FIRST_WORDS.match(sql)
        if words is not None and (words[1] is None or self.isolation_level is not None):
            self._queue.enter(self)

    def _after(self) -> None:
        # A statement that failed before its BEGIN, or ran on its own (autocommit),
        # leaves no transaction: nothing to wait for, so nobody waits behind it.
        if self._queue is None:
            return
        try:
            ended = not self.in_transaction
        except sqlite3.ProgrammingError:  # closed
            ended = True
        if ended:
            self._queue.leave(self)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._queue is not None:
                self._queue.leave(self)
