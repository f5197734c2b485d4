"""Engine settings per database: SQLite gets WAL, foreign keys and a busy timeout.

pysqlite opens a transaction only right before an INSERT/UPDATE/DELETE, so a
request's reads run outside it and its first write starts from a fresh
snapshot (it waits for the write lock instead of failing). A SAVEPOINT is the
exception: outside a transaction SQLite treats it as a *deferred* BEGIN, whose
reads then make the later write fail at once with "database is locked" when
another process committed meanwhile, and whose RELEASE commits early. So a
savepoint that would start the transaction first opens a real one, IMMEDIATE
(taking the write lock, waiting for it if need be).
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_engine(engine: Engine) -> None:
    """Apply per-connection pragmas on SQLite; nothing to do on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "savepoint")
    def _transaction_before_savepoint(connection, name) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if not dbapi_connection.in_transaction:
            dbapi_connection.execute("BEGIN IMMEDIATE")
