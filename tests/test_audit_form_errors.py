"""A page shown again with form errors still shows health information: it is audited like a read.

For every patient route of the access matrix (tests/routes_*.py) that takes a
form or a JSON body, one invalid body is posted as a relation that may post:
the answer is a 4xx and the trail names the patient, once (the view's own row,
or else the one the net in portal/web.py writes, never both). Input refused
before any view runs (portal/request_checks.py, CSRF) is a refused attempt.
"""

from __future__ import annotations

import json

from flask import url_for
from sqlalchemy import select

from portal.audit import FORM_ERRORS
from portal.audit.history import access_history
from portal.audit.models import AuditEvent
from portal.extensions import db
from tests.matrix import ACCOUNTS, RELATIONS, Case
from tests.test_access_matrix import CASES

NOT_A_VALUE = "x" * 5000  # too long for any text field, no number, date, time or choice
# What the net writes when a view recorded nothing: (action, object_type prefix).
NET = (("read", FORM_ERRORS), ("not_saved", "http_"))


def _poster(case: Case) -> str | None:
    """A signed-in relation the route serves (or shows a form again to)."""
    for relation in RELATIONS:
        status = case.expect[relation]
        if ACCOUNTS[relation] and (0 < status < 400 or status == 422):
            return relation
    return None


def _is_net(row: AuditEvent) -> bool:
    return any(row.action == a and row.object_type.startswith(t) for a, t in NET)


def _invalid(body: dict) -> dict:
    return dict.fromkeys(body, NOT_A_VALUE) or {"unexpected": NOT_A_VALUE}


def _rows_after(demo, last_id: int) -> list[AuditEvent]:
    with demo.app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def _last_id(demo) -> int:
    with demo.app.app_context():
        return db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc())) or 0


def _send(client, case: Case, url: str, body: dict):
    headers = dict(case.headers)
    if case.json is not None:
        headers["X-CSRFToken"] = client.csrf()
        return client.open(
            url,
            method=case.method,
            data=json.dumps(body),
            headers=headers,
            content_type="application/json",
        )
    data = {**body, "csrf_token": client.csrf()}
    return client.open(url, method=case.method, data=data, headers=headers)


def test_every_patient_form_shown_again_with_errors_is_audited(demo):
    tried, failures = [], []
    clients: dict[str, object] = {}
    for case in CASES:
        relation = _poster(case)
        if case.method == "GET" or not (case.form or case.json) or relation is None:
            continue
        with demo.app.test_request_context():
            args = case.args(demo)
            url = url_for(case.endpoint, **args)
        if "patient_id" not in args:
            continue
        client = clients.get(relation) or clients.setdefault(
            relation, demo.login(ACCOUNTS[relation])
        )
        body = _invalid((case.form or case.json)(demo))
        last = _last_id(demo)
        response = _send(client, case, url, body)
        tried.append(case.id)
        rows = [r for r in _rows_after(demo, last) if r.patient_id == args["patient_id"]]
        where = f"{case.id} as {relation}"
        if not 400 <= response.status_code < 500 or response.status_code in (403, 404):
            failures.append(f"{where}: answered {response.status_code}, not a form error")
        elif not rows:
            failures.append(f"{where}: answered {response.status_code} without an audit row")
        elif any(map(_is_net, rows)) and len(rows) > 1:
            failures.append(f"{where}: recorded twice: {[(r.action, r.object_type) for r in rows]}")
    assert len(tried) >= 25, tried  # the sweep reached the routes (forms and the API)
    assert not failures, "\n".join(failures)


def test_a_goal_form_shown_again_is_a_read_in_the_same_transaction(demo, app):
    """careplan.new_item records nothing itself on a POST: the net's row commits with the page."""
    rivera = demo.login("rivera@example.com")
    last = _last_id(demo)
    response = rivera.submit(f"/p/{demo.alex}/plan/goal/new", {"title": ""})
    assert response.status_code == 422
    assert "Alex" in response.get_data(as_text=True)  # the page names whose plan this is
    [row] = _rows_after(demo, last)
    assert (row.action, row.object_type, row.patient_id) == ("read", FORM_ERRORS, demo.alex)
    assert (row.actor_id, row.relation) == (demo.users["rivera@example.com"], "care_team")
    assert row.path == f"POST /p/{demo.alex}/plan/goal/new"
    assert row.session_id is not None and row.client_addr == "127.0.0.1"
    with app.app_context():
        lines = access_history(demo.alex).lines
    assert lines[0].sentence() == (
        "Dr. Riley Rivera, primary care, looked at your information on a form to correct"
    )
    code = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert code.exit_code == 0, code.output


def test_a_view_that_records_its_own_read_gets_no_second_row(demo):
    """goals.add_entry shows the goal again with its errors and records that read itself."""
    from tests.routes_goals import walk

    alex = demo.login("alex@example.com")
    last = _last_id(demo)
    url = f"/p/{demo.alex}/goals/{walk(demo)}/entries"
    response = alex.submit(url, {"value": "many", "idempotency_key": "form-error-entry-1"})
    assert response.status_code == 422
    rows = _rows_after(demo, last)
    assert rows and not any(map(_is_net, rows)), [(r.action, r.object_type) for r in rows]


def test_an_api_error_after_the_view_ran_is_recorded_though_it_rolls_back(demo):
    """400 from the API's own parser: the view's rows roll back, the net's kept row stays."""
    alex = demo.login("alex@example.com")
    last = _last_id(demo)
    response = alex.open(
        f"/api/v1/patients/{demo.alex}/goals",
        method="POST",
        data="[1, 2]",
        content_type="application/json",
        headers={"X-CSRFToken": alex.csrf()},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    [row] = _rows_after(demo, last)
    assert (row.action, row.object_type, row.patient_id) == ("not_saved", "http_400", demo.alex)
    assert row.path == f"POST /api/v1/patients/{demo.alex}/goals"


def test_input_refused_before_any_view_is_a_refused_attempt(demo, app):
    """A NUL byte (request_checks) or a missing CSRF token on a patient's route: who, whose, how."""
    sam = demo.login("sam@example.com")  # Alex's caregiver
    url = f"/p/{demo.alex}/goals/new"
    last = _last_id(demo)
    assert sam.submit(url, {"title": "a\x00b"}).status_code == 400
    assert sam.post(url, data={"title": "Walk"}).status_code == 400  # no CSRF token
    rows = _rows_after(demo, last)
    assert [(r.action, r.object_type, r.patient_id, r.relation) for r in rows] == [
        ("refused", "http_400", demo.alex, "caregiver")
    ] * 2
    assert rows[0].path == f"POST {url}"

    chen = demo.login("chen@example.com")  # no relation to Alex: the patient is still named
    last = _last_id(demo)
    assert chen.submit(url, {"title": "a\x00b"}).status_code == 400
    [row] = _rows_after(demo, last)
    assert (row.patient_id, row.relation) == (demo.alex, "none")

    last = _last_id(demo)  # a made-up record is not named
    assert chen.submit("/p/987654/goals/new", {"title": "a\x00b"}).status_code == 400
    [row] = _rows_after(demo, last)
    assert row.action == "refused" and row.patient_id is None

    last = _last_id(demo)  # a body over the limit is refused before any view reads it
    big = {"title": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)}
    assert sam.submit(url, big).status_code == 413
    [row] = _rows_after(demo, last)
    assert (row.action, row.object_type, row.patient_id) == ("refused", "http_413", demo.alex)

    with app.app_context():
        lines = access_history(demo.alex).lines
    assert "sent something about your information that was refused" in lines[0].sentence()
    code = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert code.exit_code == 0, code.output


def test_a_savepoint_rolled_back_drops_only_the_rows_queued_inside_it(app):
    """Two tabs racing on a goal's read marker roll back a savepoint and carry on: the
    request's read from before it is still written; a full rollback drops everything."""
    from portal import audit

    with app.test_request_context():
        audit.record_event(None, "before", "test")
        try:
            with db.session.begin_nested():
                audit.record_event(None, "inside", "test")
                raise LookupError
        except LookupError:
            pass
        db.session.commit()
        audit.record_event(None, "dropped", "test")
        db.session.rollback()
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert actions == ["before"]
