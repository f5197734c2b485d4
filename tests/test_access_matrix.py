"""Every route, as every relation: deny by default, 404 across patients."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from flask import url_for
from sqlalchemy import delete, func, select

import tests
from portal.audit.models import AuditEvent
from portal.auth.models import LoginThrottle
from portal.extensions import db
from tests import snapshot
from tests.conftest import DemoClinic, PortalClient, empty_database, seed_demo
from tests.matrix import ACCOUNTS, RELATIONS, Case

IGNORED_ENDPOINTS = {"static"}  # public files: no patient data


def _cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(tests.__path__):
        if module.name.startswith("routes_"):
            cases.extend(importlib.import_module(f"tests.{module.name}").ROUTES)
    return cases


CASES = _cases()


def _audit_rows(demo, patient_id: int | None) -> int:
    """Rows naming the patient that views wrote themselves (not portal/web.py's net for a
    view that recorded nothing: it says only "a page", so each view must still say what)."""
    if patient_id is None:
        return 0
    with demo.app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.patient_id == patient_id, AuditEvent.object_type != "page")
        )


def test_every_route_is_in_the_matrix(app):
    """A route that nobody added to the matrix fails here, method by method."""
    covered = {(case.endpoint, case.method) for case in CASES}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in covered:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes missing from the access matrix:\n" + "\n".join(missing)


def _forget_failed_sign_ins(app) -> None:
    with app.app_context():
        db.session.execute(delete(LoginThrottle))
        db.session.commit()


def _changes_data(case: Case, relation: str) -> bool:
    """Whether this request, answered as expected, may change what the next one finds."""
    return case.method != "GET" and case.expect[relation] < 400


def signed_in_clinic(app) -> tuple[DemoClinic, dict[str, PortalClient]]:
    """The demo clinic with every matrix account signed in (through the form, second step
    and all), and a client holding each one's session.

    Restored from a snapshot like the demo clinic itself, sessions included: signing
    in seven accounts through the form for every case took over half of this file's
    time. Callers send from a `clone()` of each client, so no request's cookies reach
    the next; each case restores the clinic, so no request's sign-out or write does.
    """

    def seed() -> tuple[DemoClinic, dict[str, PortalClient]]:
        demo = seed_demo(app)
        clients = {}
        for relation, email in ACCOUNTS.items():
            if email:
                _forget_failed_sign_ins(app)
                clients[relation] = demo.login(email)
        _forget_failed_sign_ins(app)
        return demo, clients

    return snapshot.seeded(app, seed, name="matrix signed in", on="demo")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_route_answers_each_relation(app, case: Case):
    """Every relation in turn on one seeded clinic; a fresh one after a request that may write.

    Refusals change nothing, so they go first and share the clinic; a request
    expected to succeed may write (a deleted entry is not there to delete
    again), so the next relation gets a clinic seeded afresh. Seeding once per
    relation instead made this the slowest test of the suite by far.
    """
    demo, clients = signed_in_clinic(app)
    order = sorted(RELATIONS, key=lambda relation: _changes_data(case, relation))
    problems: list[str] = []
    for n, relation in enumerate(order):
        if n and _changes_data(case, order[n - 1]):
            empty_database(app)
            demo, clients = signed_in_clinic(app)
        _forget_failed_sign_ins(app)  # the relations share one client address
        client = clients[relation].clone() if relation in clients else app.test_client()
        problems += _answer(demo, case, relation, client)
    assert not problems, "\n".join(problems)


def _answer(demo, case: Case, relation: str, client: PortalClient) -> list[str]:
    """What is wrong with the answer `relation` (signed in on `client`) gets (nothing: [])."""
    with demo.app.test_request_context():
        args = case.args(demo)  # once: some cases create what they point at
        url = url_for(case.endpoint, **args)
    kwargs = {"headers": dict(case.headers)}
    if case.form is not None:
        kwargs["data"] = {**case.form(demo), "csrf_token": client.csrf()}
    elif case.json is not None:
        kwargs["json"] = case.json(demo)
        kwargs["headers"]["X-CSRFToken"] = client.csrf()
    elif case.method != "GET":
        kwargs["data"] = {"csrf_token": client.csrf()}
    audits_before = _audit_rows(demo, args.get("patient_id"))
    response = client.open(url, method=case.method, **kwargs)
    expected = case.expect[relation]
    if response.status_code != expected:
        return [f"{case.id} as {relation}: {response.status_code}, expected {expected}"]
    problems = []
    served = response.status_code < 300 or (case.method != "GET" and response.status_code < 400)
    # Every access to a patient's information, read or write, leaves an audit row.
    exempt = "patient_id" not in args or relation == "anonymous" or not served
    if not exempt and _audit_rows(demo, args["patient_id"]) <= audits_before:
        problems.append(
            f"{case.id} as {relation}: answered {response.status_code} without an audit row"
        )
    if expected == 404 and response.mimetype == "text/html":
        body = response.get_data(as_text=True)
        if "Alex" in body or "Morgan" in body:
            problems.append(f"{case.id} as {relation}: a hidden patient's name leaked")
    return problems
