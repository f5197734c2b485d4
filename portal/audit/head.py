"""The chain's head on PostgreSQL: its lock and its last row, in one round trip.

Sealing a row needs the last row's id and mac, read after every earlier writer
committed: the writer takes the chain's advisory lock (transaction-scoped, so
several app processes queue on it) and only then reads the last row.

In one statement the read would be too early: under READ COMMITTED a statement
reads the snapshot taken when it started, before its lock was granted, and a
writer that committed in between would be missed (two rows with one id, a
forked chain). So the two are the statements of `audit_chain_head()`, a
VOLATILE function: each statement in it reads a fresh snapshot, and its SELECT
runs after the lock is granted. One round trip instead of two; the function
keeps its SELECT's plan, where the statement sent alone was planned on every
call. The database makes the function (a migration, and `create_all` through
`install`); SQLite needs none (portal/audit/chain.py).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, String, Table, column, event, func, select, text

from portal.prepared import Prepared

LOCK_KEY = 0x617564697400  # "audit\0": the one advisory lock the chain takes
# The function's SELECT: the newest row, by key (tests/test_explain.py checks its plan).
NEWEST_ROW = "SELECT e.id, e.mac FROM audit_events AS e ORDER BY e.id DESC LIMIT 1"

_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_chain_head(OUT head_id bigint, OUT head_mac varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    {NEWEST_ROW} INTO head_id, head_mac;
END
$$
"""

_CALL = func.audit_chain_head().table_valued(
    column("head_id", BigInteger), column("head_mac", String(64))
)
_HEAD = Prepared(select(_CALL.c.head_id, _CALL.c.head_mac))


def lock_and_read(connection: Connection) -> tuple[int, str]:
    """Take the chain's lock for this transaction; the last row's (id, mac), or (0, '')."""
    head = _HEAD.first(connection, {})
    return (head.head_id or 0, head.head_mac or "")


def create(conn: Connection) -> None:
    """Make `audit_chain_head()` (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(_FUNCTION))


def drop(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP FUNCTION IF EXISTS audit_chain_head()"))


def install(table: Table) -> None:
    """Make the function whenever `create_all` creates `table` (tests, tools)."""

    @event.listens_for(table, "after_create")
    def _after_create(target: Table, conn: Connection, **_: object) -> None:
        create(conn)
