"""Audit trail: every read or write of a patient's information, in the same transaction.

`record()` queues the row on the session; it is inserted just before the
session commits, in that same transaction, and discarded if it rolls back.
Writing at commit time keeps the chain's lock (portal/audit/chain.py) and the
database's write lock short, and a change and its audit row still stand or
fall together.

Some rows must outlive a rolled-back request: a refused attempt (403/404), a
throttled sign-in. `record_event(..., keep=True)` holds them for the request;
`web.finish` writes them in a short transaction of their own after the
rollback (`write_kept`), still chained.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from portal import transaction
from portal.audit import chain
from portal.db import utcnow
from portal.extensions import db
from portal.patients import Patient

if TYPE_CHECKING:  # the policy imports accounts, whose services audit: no import circle
    from portal.access import Access

CARE_TEAM, NONE = "care_team", "none"  # access.Relation's values
FORM_ERRORS = "form_errors"  # a form shown again with its errors: what the net records

_log = logging.getLogger(__name__)  # not `log`: portal.audit.log is a module

_PENDING = "audit_pending"
_EXISTS = select(Patient.id).where(Patient.id == bindparam("pid"))
_KEPT = "audit_kept"  # on flask.g: rows that survive the request's rollback
_STARTED = "audit_session_started"  # on flask.g: a session this request signed in with


def session_started(session_id: int) -> None:
    """The request signed someone in: its rows name that session (the cookie had none yet)."""
    if has_request_context():
        g.setdefault(_STARTED, session_id)


def record(access: Access, action: str, object_type: str, object_id: int | None = None) -> None:
    """Add an audit row to the current transaction; it commits (or rolls back) with the change."""
    record_rows(
        [
            {
                "actor_id": access.actor_id,
                "relation": access.relation.value,
                "patient_id": access.patient_id,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
            }
        ]
    )


def record_rows(rows: list[dict[str, Any]]) -> None:
    """Queue several audit rows, each about one patient."""
    now = utcnow()
    _queue().extend(({"at": now, **row}, ()) for row in rows)


def record_list(
    actor_id: int,
    object_type: str,
    patient_ids: Iterable[int],
    relation: str = CARE_TEAM,
) -> None:
    """Queue ONE audit event for a list view (panel, inbox, search) naming every patient shown.

    Written even when the list is empty: the view itself happened. Each
    patient's access log finds it through an index filled in batches
    (portal/audit/listed.py).
    """
    ids = sorted(set(patient_ids))
    row = {
        "at": utcnow(),
        "actor_id": actor_id,
        "relation": str(relation),
        "patient_id": None,
        "action": "list",
        "object_type": object_type,
        "object_id": None,
        "patient_ids": ",".join(map(str, ids)),
    }
    _queue().append((row, ids))


def record_event(
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None = None,
    patient_id: int | None = None,
    *,
    relation: str = NONE,
    session_id: int | None = None,
    path: str | None = None,
    keep: bool = False,
) -> None:
    """Record an account or security event (sign-in, MFA change, account disabled, grant ...).

    Queued like `record`; `keep=True` writes it even when the request rolls
    back (a refused or throttled attempt). `session_id` names the session when
    the request's own is not the one (a sign-in names the session it starts).
    """
    row = {
        "at": utcnow(),
        "actor_id": actor_id,
        "relation": str(relation),
        "patient_id": patient_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
    }
    if session_id is not None:
        row["session_id"] = session_id
    if path is not None:
        row["path"] = path[:300]
    if keep and has_request_context():
        g.setdefault(_KEPT, []).append(row)
    else:
        _queue().append((row, ()))


def record_refused(
    actor_id: int, patient_id: int | None, status: int, relation: str = NONE
) -> None:
    """A refused attempt on a patient's information: who, which path, when, whose (if any)."""
    path = f"{request.method} {request.path}"  # never the query string: it may hold a name
    record_event(
        actor_id,
        "refused",
        f"http_{status}",
        None,
        patient_id,
        relation=relation,
        path=path,
        keep=True,
    )


def names(patient_id: int) -> bool:
    """Whether a row this request will write (queued or kept) names the patient."""
    pending = transaction.info().get(_PENDING, ())
    if any(row.get("patient_id") == patient_id or patient_id in ids for row, ids in pending):
        return True
    return any(row.get("patient_id") == patient_id for row in g.get(_KEPT, ()))


def unrecorded_answer(access: Access, status: int, page: bool) -> None:
    """A patient view answered and no row of its own names the patient: record the answer.

    The safety net behind every view's own row (portal/web.py calls it): a form
    shown again with its errors (422, a page) still shows the record, so it is a
    read; any other 4xx (the view's own rows rolled back with it) is a change not
    saved; a success whose view recorded nothing is a read of the page, or a
    form submitted to it (a change its rules refused, said in a flash message).
    Kept: written whether the request commits or rolls back.
    """
    method = request.method
    if status == 422 and page:
        action, object_type = "read", FORM_ERRORS
    elif status >= 400:
        action, object_type = "not_saved", f"http_{status}"
    else:
        # A page, or a change the rules refused with a message (flash and redirect).
        action, object_type = ("read" if method in ("GET", "HEAD") else "submit"), "page"
        _log.info("patient view %s recorded no audit row of its own", request.endpoint)
    record_event(
        access.actor_id,
        action,
        object_type,
        None,
        access.patient_id,
        relation=access.relation.value,
        path=f"{method} {request.path}",  # never the query string: it may hold a name
        keep=True,
    )


def write_kept() -> None:
    """After a rollback: write the rows that must survive it, in a transaction of their own."""
    kept = g.pop(_KEPT, None)
    if kept:
        _queue().extend((row, ()) for row in kept)
        transaction.commit()


def _queue() -> list:
    """The transaction's queue, tied to a begun transaction so its rollback drops it."""
    transaction.connection()  # begun: else a rollback before any query would keep the rows
    return transaction.info().setdefault(_PENDING, [])


def _request_context() -> dict[str, Any]:
    """The session id and client address of the request writing the rows."""
    if not has_request_context():
        return {"session_id": None, "client_addr": None}
    user = current_user._get_current_object()
    return {
        "session_id": getattr(user, "session_id", None) or g.get(_STARTED),
        "client_addr": (request.remote_addr or "")[:45] or None,
    }


def _write_pending(committing: transaction.Committing) -> None:
    kept = g.pop(_KEPT, None) if has_request_context() else None
    if kept:  # the request commits after all: its kept rows go with it
        committing.info.setdefault(_PENDING, []).extend((row, ()) for row in kept)
    pending = committing.info.pop(_PENDING, None)
    if not pending:
        return
    if committing.session is not None:
        committing.session.flush()  # the ORM's writes first: the chain's lock is the last taken
    context = _request_context()
    rows = [{**context, **row} for row, _ in pending]
    # A list event's patients reach the access log's index later (portal/audit/listed.py).
    chain.write(committing.connection(), rows)


# First of the commit hooks: the chain's lock and read come before any other late write.
transaction.before_commit(_write_pending, first=True)


_SAVEPOINTS = "audit_savepoints"  # id(savepoint) -> rows queued when it began


@event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, begun: Any) -> None:
    if begun.nested:
        info = transaction.info_of(session)
        marks = info.setdefault(_SAVEPOINTS, {})
        marks[id(begun)] = len(info.get(_PENDING, ()))


def _drop(session: Session, *_args: Any) -> None:
    """A rollback drops the queued rows; a savepoint's only those queued inside it.

    (Two tabs racing on a read marker roll back a savepoint and carry on: the
    request's own rows from before it still stand.)
    """
    info = transaction.info_of(session)
    savepoint = session.get_nested_transaction()
    mark = info.get(_SAVEPOINTS, {}).pop(id(savepoint), None) if savepoint else None
    if mark is not None:
        del info.get(_PENDING, [])[mark:]
        return
    info.pop(_PENDING, None)
    info.pop(_SAVEPOINTS, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_soft(session: Session, previous: Any) -> None:
    if not previous.nested:  # a savepoint's rollback was handled by `_drop`
        _drop(session)


event.listen(Session, "after_rollback", _drop)


def refused_attempt(patient_id: int, access: Access | None, status: int) -> None:
    """Audit a refused attempt on patient `patient_id`'s pages by the signed-in user.

    The patient is named only when the record exists (a probe of made-up ids
    names none); the relation is the one the user had, if any.
    """
    if not current_user.is_authenticated:
        return
    exists = access is not None or db.session.scalar(_EXISTS, {"pid": patient_id}) is not None
    relation = access.relation.value if access is not None else NONE
    record_refused(current_user.id, patient_id if exists else None, status, relation)
