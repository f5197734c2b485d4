"""One transaction per request, on one connection; the ORM session joins it only if used.

In a request, `connection()` is the request's own Core connection, its
transaction begun on first use. A view that uses the ORM gets a session bound
to that same connection (`RequestSession`, `join_transaction_mode=
"control_fully"`), and the session's commit and rollback are the request's:
whatever wrote through either, one COMMIT or one ROLLBACK ends it all. A
request that never touches the ORM, which is every hot path (the entry POST,
the kept pages, the inbox), never builds a session: a session per request, its
transaction and its bookkeeping were 8% of an entry POST's samples under load
(docs/benchmarks.md, 09:02).

Outside a request (commands, workers, tests in an app context), `connection()`
is the ORM session's, as before.

Work due at commit (the audit rows, a session's last use) registers with
`before_commit` and runs once per transaction whichever way it commits: the
session's commit, or `commit()` of a request that built none. What it queues
lives in `info()`, the transaction's own dict, which a rollback empties.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flask import current_app, g, has_request_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

_CONNECTION = "_db_connection"
_INFO = "_db_info"


class Committing(NamedTuple):
    """What a `before_commit` hook works with: the transaction's queue and connection."""

    info: dict[str, Any]
    connection: Callable[[], Connection]
    session: Session | None  # the ORM session committing, if any: flush it before a late write


_hooks: list[Callable[[Committing], None]] = []


def before_commit(
    hook: Callable[[Committing], None], *, first: bool = False
) -> Callable[[Committing], None]:
    """Run `hook` just before every transaction commits (`first`: before those already here)."""
    if first:
        _hooks.insert(0, hook)
    else:
        _hooks.append(hook)
    return hook


def _db() -> Any:
    return current_app.extensions["sqlalchemy"]


def connection() -> Connection:
    """The connection this unit of work runs on, inside its transaction."""
    if not has_request_context():
        return _db().session.connection()
    conn = g.get(_CONNECTION)
    if conn is None:
        conn = _db().engine.connect()
        setattr(g, _CONNECTION, conn)
    if not conn.in_transaction():
        conn.begin()  # after a commit in the middle of the request, the next transaction
    return conn


def flushed() -> Connection:
    """`connection()`, once the ORM session (if this unit has one) has sent its pending writes."""
    db = _db()
    if not has_request_context() or db.session.registry.has():
        db.session.flush()
    return connection()


def info() -> dict[str, Any]:
    """What this transaction will write when it commits (its rollback drops it)."""
    if not has_request_context():
        return _db().session().info
    found = g.get(_INFO)
    if found is None:
        found = {}
        setattr(g, _INFO, found)
    return found


def info_of(session: Session) -> dict[str, Any]:
    """`info()` for a session's own events: the request's in a request, else the session's."""
    return info() if has_request_context() else session.info


def touched() -> bool:
    """Whether this request used the database."""
    return g.get(_CONNECTION) is not None or _db().session.registry.has()


def commit() -> None:
    """Commit this unit of work: the ORM's writes, then the work due at commit, then COMMIT."""
    if has_request_context() and not _db().session.registry.has():
        _commit_connection()
    else:
        _db().session.commit()  # in a request, RequestSession.commit ends the connection's too


def rollback() -> None:
    """Roll back every write of this unit of work, and everything queued for its commit."""
    if has_request_context() and not _db().session.registry.has():
        _rollback_connection()
    else:
        _db().session.rollback()


def close() -> None:
    """End this app context's unit of work; an open transaction is rolled back."""
    db = _db()
    if db.session.registry.has():
        db.session.remove()  # first: it may hold the connection's transaction
    g.pop(_INFO, None)
    conn = g.pop(_CONNECTION, None)
    if conn is not None:
        conn.close()


def _commit_connection() -> None:
    conn = g.get(_CONNECTION)
    if conn is not None and conn.in_transaction():
        _run_hooks(Committing(info(), lambda: conn, None))
        conn.commit()


def _rollback_connection() -> None:
    g.pop(_INFO, None)
    conn = g.get(_CONNECTION)
    if conn is not None and conn.in_transaction():
        conn.rollback()


def _run_hooks(committing: Committing) -> None:
    for hook in _hooks:
        hook(committing)


@event.listens_for(Session, "before_commit")
def _session_commits(session: Session) -> None:
    if has_request_context():
        _run_hooks(Committing(info(), connection, session))
    else:
        _run_hooks(Committing(session.info, session.connection, session))


class RequestSession(FlaskSession):
    """The ORM session. In a request it runs on the request's connection and transaction."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any):
        if bind is None and has_request_context():
            return connection()
        return super().get_bind(mapper, clause=clause, bind=bind, **kwargs)

    def commit(self) -> None:
        super().commit()
        if has_request_context():
            _commit_connection()  # Core work of a transaction the session never joined

    def rollback(self) -> None:
        super().rollback()
        if has_request_context():
            _rollback_connection()
