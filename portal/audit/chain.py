"""Sealing the trail: each audit row carries an HMAC over itself and the row before it.

mac(n) = HMAC-SHA256(AUDIT_KEY, mac(n-1) + "\\n" + canonical(row n)), and row n's
id is row n-1's id + 1. Whoever can write to the database but does not hold the
key cannot edit, delete or insert a row without breaking the chain at that row
(`verify`). Rows are sealed in one order even when many requests commit at
once (`write`):

- PostgreSQL: the writer takes the chain's lock (a transaction-scoped advisory
  lock, so several app processes queue) and reads the last row's id and mac in
  one statement (`audit_chain_head()`, portal/audit/head.py), then inserts.
  One statement more than the INSERT.
- SQLite: each row's INSERT numbers and seals it itself, from the last row it
  reads (`INSERT ... SELECT`, the HMAC by `audit_seal`, a function registered
  on every connection, whose key never enters the SQL and which seals only the
  rows `write` is inserting at that moment). SQLite takes the write
  lock before a writing statement reads anything, so concurrent writers queue
  on it. No statement more than the INSERT.

The lock ends with the transaction's commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Connection, bindparam, event, func, insert, select
from sqlalchemy.engine import Engine

from portal.audit import head
from portal.audit import listed as listed_index
from portal.audit.models import AuditEvent
from portal.prepared import Prepared

# Every column but the mac, in the order the seal reads them.
SEALED = (
    "id",
    "at",
    "actor_id",
    "relation",
    "patient_id",
    "action",
    "object_type",
    "object_id",
    "patient_ids",
    "session_id",
    "client_addr",
    "path",
)
# What sealing adds to a transaction that writes audit rows: on PostgreSQL, the one call
# taking the chain's lock and reading its last row.
EXTRA_STATEMENTS = {"sqlite": 0, "postgresql": 1}


def _key() -> bytes:
    return current_app.config["AUDIT_KEY"].encode()


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def seal(row: dict[str, Any], previous_mac: str, key: bytes | None = None) -> str:
    """The row's mac: HMAC-SHA256 over the previous mac and every column of the row."""
    return _mac(previous_mac, row.get("id"), _rest(row), key or _key())


def _rest(row: dict[str, Any]) -> str:
    """The sealed JSON array of `row`'s columns after the id."""
    return json.dumps([_canonical(row.get(c)) for c in SEALED[1:]], separators=(",", ":"))


def _mac(previous_mac: str, row_id: Any, rest: str, key: bytes) -> str:
    """The one way a mac is made: over the previous mac and `[id, <rest's items>]`.

    Python (`seal`) and SQLite's `audit_seal` both come here, so the row SQLite
    seals in its INSERT and the row `verify` checks are read the same way.
    """
    message = f"{previous_mac}\n[{json.dumps(row_id)},{rest[1:]}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def write(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Number, seal and insert `rows` after the trail's last row, in this transaction."""
    if connection.dialect.name == "sqlite":
        # Several rows (a caregiver's list of the people they help) are one executemany:
        # each execution reads the row the one before it wrote.
        params = [_sealed_params(row) for row in rows]
        _writing.rows = {p["sealed_rest"] for p in params}
        try:
            _SEALED_INSERT.execute(connection, params[0] if len(params) == 1 else params)
        finally:
            _writing.rows = None
        return
    chain(rows, head.lock_and_read(connection))
    # One row (the usual page view) as a plain INSERT, not executemany.
    _PLAIN_INSERT.execute(connection, rows[0] if len(rows) == 1 else rows)


def _sealed_params(row: dict[str, Any]) -> dict[str, Any]:
    """`row`'s columns after the id, and their sealed JSON as `seal` writes it after the id."""
    values = {c: row.get(c) for c in SEALED[1:]}
    return {**values, "sealed_rest": _rest(values)}


# The rows `write` is inserting on this thread, the only ones `audit_seal` seals. Any
# other call (SQL that found its way into a statement) is refused: the function is no
# oracle for sealing rows the app did not write.
_writing = threading.local()


class NotWriting(Exception):
    """`audit_seal` was called for a row `write` is not inserting."""


def _seal_in_sqlite(previous_mac: str, row_id: int, rest: str) -> str:
    """`audit_seal(mac, id, rest)`: `seal` of the row whose JSON after its id is `rest`."""
    if rest not in (getattr(_writing, "rows", None) or ()):
        raise NotWriting("audit_seal seals only the rows the audit trail is writing")
    return _mac(previous_mac, row_id, rest, _key())


@event.listens_for(Engine, "connect")
def _register_seal(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("audit_seal", 3, _seal_in_sqlite)


_TABLE = AuditEvent.__table__
_INSERT = insert(_TABLE)
_LAST_ID = func.coalesce(
    select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1).scalar_subquery(), 0
)
_LAST_MAC = func.coalesce(
    select(AuditEvent.mac).order_by(AuditEvent.id.desc()).limit(1).scalar_subquery(), ""
)
# PostgreSQL's: numbered and sealed in Python (`chain`), under the chain's lock.
_PLAIN_INSERT = Prepared(
    _INSERT.values({c: bindparam(c, type_=_TABLE.c[c].type) for c in (*SEALED, "mac")})
)
_SEALED_INSERT = Prepared(
    _INSERT.from_select(
        ["id", *SEALED[1:], "mac"],
        select(
            (_LAST_ID + 1).label("id"),
            *(bindparam(c, type_=_TABLE.c[c].type) for c in SEALED[1:]),
            func.audit_seal(_LAST_MAC, _LAST_ID + 1, bindparam("sealed_rest")).label("mac"),
        ),
    )
)


def chain(rows: Sequence[dict[str, Any]], after: tuple[int, str]) -> tuple[int, str]:
    """Number and seal `rows` (in place) after the row `after` (id, mac); returns the new last."""
    last_id, last_mac = after
    key = _key()
    for row in rows:
        last_id += 1
        row["id"] = last_id
        for column in SEALED[1:]:  # sealed as None, so written as None
            row.setdefault(column, None)
        last_mac = row["mac"] = seal(row, last_mac, key)
    return last_id, last_mac


# -- verification ------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """The first row at which the trail is not what the app wrote."""

    row_id: int
    reason: str

    def __str__(self) -> str:
        return f"audit row {self.row_id}: {self.reason}"


@dataclass
class Report:
    rows: int = 0
    last_id: int = 0
    last_at: datetime | None = None
    problem: Problem | None = None


_COLUMNS = [getattr(AuditEvent, c) for c in SEALED] + [AuditEvent.mac]


def _batches(connection: Connection, size: int) -> Iterator[list]:
    after = -1
    while True:
        rows = connection.execute(
            select(*_COLUMNS).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(size)
        ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _check(row: Any, previous: tuple[int, str], key: bytes) -> str | None:
    prev_id, prev_mac = previous
    if hmac.compare_digest(seal(row._asdict(), prev_mac, key), row.mac or ""):
        return None
    if prev_id and row.id > prev_id + 1:
        return f"does not follow row {prev_id}: rows {prev_id + 1} to {row.id - 1} were deleted"
    if not prev_id and row.id > 1:
        return f"is the first row, but rows 1 to {row.id - 1} were deleted"
    return "was changed or inserted outside the portal (its seal does not match)"


def verify(connection: Connection, batch_size: int = 5000) -> Report:
    """Walk the whole trail in id order, in batches, and report the first broken row.

    The access log's index is walked beside it (`listed.SpanWalk`). Read it in one
    snapshot (`flask audit verify` does): a batch indexing meanwhile would
    otherwise be seen half.
    """
    key = _key()
    report = Report()
    previous = (0, "")
    indexed = listed_index.indexed_through(connection)
    spans = listed_index.SpanWalk(connection, indexed)
    for rows in _batches(connection, batch_size):
        in_index = spans.check(rows)
        for row in rows:
            if in_index and row.id >= in_index[0]:
                report.problem = Problem(*in_index)
                return report
            reason = _check(row, previous, key)
            if reason:
                report.problem = Problem(row.id, reason)
                return report
            previous = (row.id, row.mac)
            report.rows += 1
            report.last_id, report.last_at = row.id, row.at
    if indexed > previous[0]:
        # The chain cannot tell its newest rows were removed; the index's mark can.
        report.problem = Problem(
            previous[0] + 1, f"is missing: the access log's index covers rows up to {indexed}"
        )
        return report
    if left := spans.left_over():
        report.problem = Problem(*left)
    return report
