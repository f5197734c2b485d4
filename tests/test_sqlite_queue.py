"""SQLite writers queue on a lock the kernel hands over (portal/sqlite_queue.py).

The proof that a writer waited in the queue, not in SQLite's busy handler:
it runs with `busy_timeout` 0, so meeting SQLite's lock taken would fail at
once with "database is locked". The other writer lets go only once the
kernel shows the first one blocked in the queue (/proc/locks), so the order
is certain without timing anything.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from portal import sqlite_queue
from portal.extensions import db
from portal.sqlite_queue import QueuedConnection

ROOT = Path(__file__).resolve().parent.parent

# A second process: waits in the queue (no busy timeout at all), then writes.
WRITER = """
import sqlite3, sys
from portal.sqlite_queue import QueuedConnection
c = sqlite3.connect(sys.argv[1], factory=QueuedConnection, timeout=0)
print("ready", flush=True)
c.execute("INSERT INTO t VALUES ('second')")
c.commit()
print(",".join(v for (v,) in c.execute("SELECT v FROM t ORDER BY rowid")), flush=True)
"""


@pytest.fixture()
def database(tmp_path: Path) -> Path:
    path = tmp_path / "queue.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (v TEXT UNIQUE)")
    setup.commit()
    setup.close()
    return path


def _connect(path: Path, timeout: float = 0) -> QueuedConnection:
    return sqlite3.connect(path, factory=QueuedConnection, timeout=timeout)


def _holds(connection: QueuedConnection) -> bool:
    return connection._queue is not None and connection._queue.holds(connection)


def _blocked_in_queue(pid: int) -> bool:
    """Whether the kernel lists `pid` as waiting for an flock (a '->' line of /proc/locks)."""
    for line in Path("/proc/locks").read_text().splitlines():
        # "1: -> FLOCK  ADVISORY  WRITE 10702 fe:00:2146367 0 EOF"
        words = line.split()
        if words[1:3] == ["->", "FLOCK"] and words[5] == str(pid):
            return True
    return False


def _wait_until_blocked(proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not _blocked_in_queue(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the second writer never queued"
        time.sleep(0.01)


def _start_writer(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.parametrize(
    "opens",
    [
        "INSERT INTO t VALUES ('first')",
        "  /* a comment */ -- and another\n update t SET v = v",
        "DELETE FROM t",
        "BEGIN IMMEDIATE",
    ],
)
@pytest.mark.parametrize("ends", ["commit", "rollback", "close", "ROLLBACK statement"])
def test_a_write_transaction_holds_the_queue_until_it_ends(database, opens, ends):
    first = _connect(database)
    first.execute(opens)
    assert first.in_transaction and _holds(first)
    second = _start_writer(database)
    _wait_until_blocked(second)  # in the kernel's queue, not failing on SQLite's lock
    if ends == "commit":
        first.commit()
    elif ends == "rollback":
        first.rollback()
    elif ends == "close":
        first.close()
    else:
        first.execute("ROLLBACK")
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    stored = out.strip().split(",")
    assert stored[-1] == "second"
    if ends == "commit" and opens.startswith("INSERT"):
        assert stored == ["first", "second"]  # it wrote after the first one's COMMIT
    if ends != "close":
        assert not _holds(first)
        first.close()


def test_reads_never_queue(database):
    writer = _connect(database)
    writer.execute("INSERT INTO t VALUES ('first')")
    reader = _connect(database)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)  # WAL: the last commit
    assert not reader.in_transaction and not _holds(reader)
    writer.commit()
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
    reader.close()
    writer.close()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO missing VALUES (1)",  # fails before sqlite3 begins a transaction
        "WITH x AS (SELECT 1) INSERT INTO t SELECT 'cte' FROM x",  # sqlite3 runs it on its own
    ],
)
def test_a_write_that_leaves_no_transaction_leaves_the_queue(database, statement):
    connection = _connect(database)
    with contextlib.suppress(sqlite3.OperationalError):
        connection.execute(statement)
    assert not connection.in_transaction
    assert not _holds(connection)
    second = _start_writer(database)  # busy timeout 0: nobody may hold SQLite's lock either
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out.strip().endswith("second")
    connection.close()


def test_a_script_commits_what_was_open_and_so_leaves_the_queue(database):
    connection = _connect(database)
    connection.execute("INSERT INTO t VALUES ('first')")
    assert _holds(connection)
    connection.executescript("SELECT 1;")  # sqlite3 commits the open transaction first
    assert not connection.in_transaction and not _holds(connection)
    second = _start_writer(database)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out.strip() == "first,second"
    connection.close()


def test_a_failed_write_holds_the_queue_until_its_rollback(database):
    connection = _connect(database)
    connection.execute("INSERT INTO t VALUES ('same')")
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute("INSERT INTO t VALUES ('same')")
    assert connection.in_transaction and _holds(connection)
    connection.rollback()
    assert not _holds(connection)
    connection.close()


def test_a_connection_dropped_in_a_write_lets_the_queue_go(database):
    """Never closed, only forgotten: sqlite3 rolls it back, and the queue is let go."""
    dropped = _connect(database)
    dropped.execute("INSERT INTO t VALUES ('never committed')")
    queue = dropped._queue
    assert queue.holds(dropped)
    del dropped
    gc.collect()
    assert queue.owner is None
    second = _start_writer(database)  # busy timeout 0: SQLite's lock must be free too
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out.strip() == "second"


def test_a_second_connection_of_the_process_does_not_wait_behind_its_own(database):
    """It meets SQLite's lock (and its busy timeout) instead of waiting forever."""
    first = _connect(database)
    first.execute("INSERT INTO t VALUES ('first')")
    outcome: list[BaseException | None] = []

    def write() -> None:
        second = _connect(database, timeout=0)
        try:
            second.execute("INSERT INTO t VALUES ('second')")
            outcome.append(None)
        except sqlite3.OperationalError as error:
            outcome.append(error)
        finally:
            second.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the second connection hung behind the first"
    assert isinstance(outcome[0], sqlite3.OperationalError)
    assert "locked" in str(outcome[0])
    first.commit()
    assert not _holds(first)
    first.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn forks its workers")
def test_a_forked_process_queues_on_its_own(database):
    """gunicorn forks its workers from the master: each gets its own place in line.

    The parent holds the queue itself, not through a connection: SQLite's
    connections must not cross a fork (gunicorn's master opens none).
    """
    queue = sqlite_queue._queue_for(database)

    class Holder:
        pass

    holder = Holder()
    queue.enter(holder)
    assert queue.holds(holder)
    pid = os.fork()
    if pid == 0:  # the child: its parent's place in line must not be taken for its own
        code = 1
        try:
            child = _connect(database)  # busy timeout 0: the queue alone may make it wait
            child.execute("INSERT INTO t VALUES ('child')")
            child.commit()
            child.close()
            code = 0
        finally:
            os._exit(code)
    try:
        deadline = time.monotonic() + 30
        while not _blocked_in_queue(pid):
            assert time.monotonic() < deadline, "the forked writer never queued"
            time.sleep(0.01)
    finally:
        queue.leave(holder)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    check = sqlite3.connect(database)
    assert check.execute("SELECT v FROM t").fetchall() == [("child",)]
    check.close()


def test_the_portal_queues_its_writers_on_sqlite_only(app):
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            is_queued = isinstance(raw.driver_connection, QueuedConnection)
        finally:
            raw.close()
    assert is_queued == app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_the_portal_s_sqlite_connections_are_set_for_many_writers(app):
    """WAL, NORMAL sync, a long busy timeout and a checkpoint every 10,000 pages."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's pragmas")
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            found = {
                name: raw.driver_connection.execute(f"PRAGMA {name}").fetchone()[0]
                for name in (
                    "journal_mode",
                    "synchronous",
                    "busy_timeout",
                    "wal_autocheckpoint",
                    "journal_size_limit",
                    "foreign_keys",
                )
            }
        finally:
            raw.close()
    assert found == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "busy_timeout": 30_000,
        "wal_autocheckpoint": 10_000,
        "journal_size_limit": 64 * 1024 * 1024,
        "foreign_keys": 1,
    }
