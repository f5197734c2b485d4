"""Hostile input on every route that takes input: a clear 4xx, never a 500, nothing stored.

The routes come from the access matrix (tests/routes_*.py): each case that
sends a form or a JSON body is replayed as the relation that may post it, once
per field per hostile value, with the other fields as the matrix sends them.
After every request the database must hold exactly what it held before (the
audit trail and session bookkeeping aside): nothing half-written.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from flask import url_for
from sqlalchemy import select

from portal.extensions import db
from portal.goals.models import Goal
from portal.request_checks import FIELD_MAX
from tests.matrix import ACCOUNTS, Case
from tests.test_access_matrix import CASES

# Rows that a refused request may still leave: the audit trail (refused attempts
# are audited) and the bookkeeping of sessions and sign-in throttling.
# A form shown again with its errors is a view of the goal, so it marks the thread read.
BOOKKEEPING = ("audit", "auth_sessions", "login_throttles", "goal_reads")

# Said of every field, text or not.
ANY_FIELD = {
    "NUL": "a\x00b",
    "escape sequence": "a\x1b[2Jb",
    "C1 control": "a\x85b",
    "bell": "\x07",
    "very long": "x" * (FIELD_MAX + 1),
}
NUMBERS = {
    "Arabic-Indic digits": "٣٠",
    "full-width digits": "\uff13\uff10",
    "Bengali digits": "\u09ea",  # a four that looks like an 8
    "past int64": str(2**63),
    "400 digits": "9" * 400,
    "1e309": "1e309",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
}
DATES = {
    "Arabic-Indic date": "٢٠٢٦-١٢-٣١",
    "full-width date": "２０２６-１２-３１",  # noqa: RUF001
    "year 99999": "99999-12-31",
    "year 0": "0000-01-01",
}
TIMES = {
    "Arabic-Indic time": "٢١:٣٠",
    "full-width time": "２１:３０",  # noqa: RUF001
    "25 o'clock": "25:00",
    "huge hour": "99999999999999999999:00",
}
# JSON numbers that Python's json module reads but no field can hold.
RAW_JSON_NUMBERS = {
    "JSON 1e309": "1e309",
    "JSON NaN": "NaN",
    "JSON Infinity": "Infinity",
    "JSON 2**64": str(2**64),
    "JSON -2**63-1": str(-(2**63) - 1),
}
KIND_OF_FIELD = {
    "value": NUMBERS,
    "target_value": NUMBERS,
    "feeling": NUMBERS,
    "user_id": NUMBERS,
    "expirationTime": NUMBERS,
    "due_on": DATES,
    "entry_date": DATES,
    "quiet_start": TIMES,
    "quiet_end": TIMES,
    "reminder_time": TIMES,
}
# A field is only read in some contexts: a target needs a numeric measure.
CONTEXT = {"target_value": {"measure": "minutes"}}


def _careplan_goal(demo) -> dict:
    return {
        "title": "Walk",
        "category": "physical_activity",
        "measure": "minutes",
        "target_value": "30",
        "frequency": "daily",
        "due_on": "2099-01-01",
        "status": "proposed",
        "sensitivity": "",
    }


def _careplan_activity(demo) -> dict:
    return {
        "title": "Blood test",
        "detail": "Fasting",
        "discipline": "primary_care",
        "assignee": "patient",
        "status": "planned",
        "due_on": "2099-01-01",
        "sensitivity": "",
    }


def _kind_args(kind: str):
    return lambda demo: {"patient_id": demo.alex, "kind": kind}


# Forms the matrix does not send in full: every field of the plan's goal and activity
# forms, and the patient's reminder time.
EXTRA = [
    Case(
        "careplan.new_item",
        {"team": 302, **dict.fromkeys(("anonymous", "patient", "other_patient", "off_team"), 0)},
        method="POST",
        args=_kind_args("goal"),
        form=_careplan_goal,
        id="POST careplan goal",
    ),
    Case(
        "careplan.new_item",
        {"team": 302, **dict.fromkeys(("anonymous", "patient", "other_patient", "off_team"), 0)},
        method="POST",
        args=_kind_args("activity"),
        form=_careplan_activity,
        id="POST careplan activity",
    ),
    Case(
        "notifications.settings",
        {"patient": 302, **dict.fromkeys(("anonymous", "other_patient", "team", "off_team"), 0)},
        method="POST",
        args=lambda demo: {},
        form=lambda demo: {"quiet_start": "21:30", "quiet_end": "07:00", "reminder_time": "09:00"},
        id="POST notification settings with reminder",
    ),
]
PREFERRED = ("patient", "team", "anonymous", "other_patient", "off_team")


def _poster(case: Case) -> str | None:
    """The relation whose request the route serves (else one it answers 422: sign-in)."""
    for wanted in (lambda s: 0 < s < 400, lambda s: s == 422):
        for relation in PREFERRED:
            if wanted(case.expect.get(relation, 0)):
                return relation
    return None


INPUT_CASES = [
    case
    for case in CASES + EXTRA
    if case.method != "GET" and (case.form or case.json) and _poster(case)
]


_EVERY_ROW: dict[str, str] = {}


def _every_row_sql(dialect: str) -> str:
    """One statement that reads every row of every table but the bookkeeping ones.

    A SELECT per table cost about a millisecond each, twice per hostile value:
    most of this file's time. One UNION ALL gives the same rows in one go: each
    row as its table's name and its columns' stored values, padded with NULLs
    to the widest table (PostgreSQL's values as their exact text, since the
    columns of a union must share one type; SQLite keeps them as stored).
    """
    if dialect not in _EVERY_ROW:
        tables = [t for t in db.metadata.sorted_tables if not t.name.startswith(BOOKKEEPING)]
        width = max(len(t.c) for t in tables)
        cast = "CAST({} AS TEXT)" if dialect == "postgresql" else "{}"
        selects = []
        for table in tables:
            values = [cast.format(f'"{c.name}"') for c in table.c]
            values += ["NULL"] * (width - len(values))
            select = f"SELECT '{table.name}', {', '.join(values)} FROM \"{table.name}\""  # noqa: S608
            selects.append(select)  # (S608: our own table and column names)
        _EVERY_ROW[dialect] = " UNION ALL ".join(selects)
    return _EVERY_ROW[dialect]


def _snapshot(demo) -> dict[str, list]:
    """Every row of every table but the bookkeeping ones."""
    with demo.app.app_context():
        rows: dict[str, list] = {
            t.name: [] for t in db.metadata.sorted_tables if not t.name.startswith(BOOKKEEPING)
        }
        with db.engine.connect() as conn:
            for name, *values in conn.exec_driver_sql(_every_row_sql(db.engine.dialect.name)):
                rows[name].append(repr(tuple(values)))
        return {name: sorted(found) for name, found in rows.items()}


def _changed(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def _variants(case: Case, demo) -> Iterator[tuple[str, str, object]]:
    """(field, what, body) for each hostile value of each field; body is a dict or JSON text."""
    base = (case.form or case.json)(demo)
    for field in base:
        values = {**ANY_FIELD, **KIND_OF_FIELD.get(field, {})}
        for what, value in values.items():
            yield field, what, {**base, **CONTEXT.get(field, {}), field: value}
        if case.json is not None and field in KIND_OF_FIELD and KIND_OF_FIELD[field] is NUMBERS:
            for what, raw in RAW_JSON_NUMBERS.items():
                text = json.dumps({**base, **CONTEXT.get(field, {}), field: "@@"})
                yield field, what, text.replace('"@@"', raw)
    if case.json is not None:
        yield "body", "10,000 nested arrays", "[" * 10_000 + "]" * 10_000
        yield "body", "10,000 nested objects", '{"a":' * 10_000 + "1" + "}" * 10_000
        yield "body", "lone surrogate", json.dumps({**base, "x": "@@"}).replace('"@@"', '"\\ud800"')
        yield (
            "body",
            "lone surrogate key",
            json.dumps({**base, "@@": 1}).replace('"@@"', '"\\udfff"'),
        )


def _url(case: Case, demo) -> str:
    with demo.app.test_request_context():
        return url_for(case.endpoint, **case.args(demo))  # once: some args make a row


def _send(client, case: Case, url: str, body):
    headers = dict(case.headers)
    if case.json is not None:
        headers["X-CSRFToken"] = client.csrf()
        data = body if isinstance(body, str) else json.dumps(body)
        return client.open(
            url, method=case.method, data=data, headers=headers, content_type="application/json"
        )
    return client.open(
        url, method=case.method, data={**body, "csrf_token": client.csrf()}, headers=headers
    )


def _says_what_is_wrong(response) -> bool:
    if response.mimetype == "application/json":
        return bool((response.get_json(silent=True) or {}).get("error"))
    html = response.get_data(as_text=True)
    return "There is a problem" in html or f"Error {response.status_code}." in html


@pytest.mark.parametrize("case", INPUT_CASES, ids=[c.id for c in INPUT_CASES])
def test_hostile_values_are_refused_with_nothing_stored(demo, case: Case):
    relation = _poster(case)
    email = ACCOUNTS[relation]
    client = demo.login(email) if email else demo.app.test_client()
    failures = []
    url = _url(case, demo)
    variants = _variants(case, demo)
    first = next(variants)  # reads the matrix's form, which may make a row: before `before`
    before = _snapshot(demo)
    for field, what, body in itertools.chain([first], variants):
        response = _send(client, case, url, body)
        # Nothing else touches the database between two requests, so what one
        # left is what the next starts from: a snapshot each, not two.
        after = _snapshot(demo)
        changed = _changed(before, after)
        before = after
        status = response.status_code
        if status not in (400, 413, 422):
            failures.append(f"{field} = {what}: {status}")
        elif not _says_what_is_wrong(response):
            failures.append(f"{field} = {what}: {status} without a message")
        if changed:
            failures.append(f"{field} = {what}: {status} and changed {changed}")
    assert not failures, f"{case.id} as {relation}:\n" + "\n".join(failures)


@pytest.mark.parametrize("case", INPUT_CASES, ids=[c.id for c in INPUT_CASES])
def test_a_body_over_the_limit_is_413(demo, case: Case):
    client = demo.login(ACCOUNTS[_poster(case)]) if ACCOUNTS[_poster(case)] else None
    client = client or demo.app.test_client()
    base = (case.form or case.json)(demo)
    field = next(iter(base), "padding")
    big = {**base, field: "x" * (demo.app.config["MAX_CONTENT_LENGTH"] + 1)}
    url = _url(case, demo)
    before = _snapshot(demo)
    response = _send(client, case, url, big)
    assert response.status_code == 413, response.status_code
    assert _says_what_is_wrong(response)
    assert _changed(before, _snapshot(demo)) == []


SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize("case", INPUT_CASES, ids=[c.id for c in INPUT_CASES])
def test_markup_is_kept_as_text_and_never_runs(demo, case: Case):
    """HTML in a text field is words ("BP < 140"), stored as sent and shown escaped."""
    relation = _poster(case)
    client = demo.login(ACCOUNTS[relation]) if ACCOUNTS[relation] else demo.app.test_client()
    base = (case.form or case.json)(demo)
    pages = []
    url = _url(case, demo)
    for field in base:
        if field in KIND_OF_FIELD:
            continue
        response = _send(client, case, url, {**base, field: SCRIPT})
        assert response.status_code < 500, f"{field}: {response.status_code}"
        pages.append(response)
        if response.location and response.location.startswith("/"):
            pages.append(client.get(response.location))
    if "/p/" in url:
        for endpoint in ("careplan.plan", "goals.index", "careplan.home"):
            with demo.app.test_request_context():
                pages.append(client.get(url_for(endpoint, patient_id=demo.alex)))
        with demo.app.app_context():
            goal_ids = db.session.scalars(select(Goal.id).where(Goal.patient_id == demo.alex))
            for goal_id in list(goal_ids):
                with demo.app.test_request_context():
                    url = url_for("goals.detail", patient_id=demo.alex, goal_id=goal_id)
                pages.append(client.get(url))
    for page in pages:
        if page.mimetype == "text/html":
            html = page.get_data(as_text=True)
            assert "<script>alert" not in html and "<img src=x" not in html


# -- redirect targets and the address ---------------------------------------------

CRLF_TARGETS = [
    "/x\r\nSet-Cookie: stolen=1",
    "/x\nLocation: https://evil.example",
    "/x\rfoo",
    "/\x00",
]


@pytest.mark.parametrize("target", CRLF_TARGETS, ids=repr)
def test_a_line_break_in_next_is_refused_at_sign_in(demo, target):
    client = demo.app.test_client()
    response = client.get("/login", query_string={"next": target})
    assert response.status_code == 400
    response = demo.login("alex@example.com").get("/login", query_string={"next": target})
    assert response.status_code == 400
    assert "stolen" not in str(response.headers) and "evil" not in str(response.headers)


@pytest.mark.parametrize("target", CRLF_TARGETS, ids=repr)
def test_a_line_break_in_a_forms_next_is_refused_and_nothing_saved(demo, target):
    from tests.routes_goals import walk

    alex = demo.login("alex@example.com")
    before = _snapshot(demo)
    url = f"/p/{demo.alex}/goals/{walk(demo)}/entries"
    form = {"value": "20", "idempotency_key": "crlf-entry-0001", "next": target}
    response = alex.submit(url, form)
    assert response.status_code == 400, response.status_code
    assert "stolen" not in str(response.headers) and "evil" not in str(response.headers)
    assert _changed(before, _snapshot(demo)) == []


@pytest.mark.parametrize(
    "query",
    [{"q": "Alex\x00"}, {"q": "a\r\nb"}, {"q": "x" * 3000}, {"page": "٣"}, {"page": str(10**30)}],
    ids=repr,
)
def test_the_clinic_search_and_inbox_take_any_address(demo, query):
    rivera = demo.login("rivera@example.com")
    for path in ("/clinic/", "/clinic/inbox"):
        response = rivera.get(path, query_string=query)
        assert response.status_code in (200, 400), f"{path} {query}: {response.status_code}"


@pytest.mark.parametrize(
    "path",
    [
        "/p/{alex}/plan".replace("{alex}", str(2**63)),
        "/p/99999999999999999999999999/goals",
        "/p/2147483648/plan",  # one past PostgreSQL's integer key
        "/p/1/goals/2147483648",
        "/p/\u0661/plan",  # Arabic-Indic one
        "/p/\uff11/plan",  # full-width one
        "/p/1/goals/99999999999999999999999",
    ],
)
def test_ids_no_database_can_hold_are_not_found(demo, path):
    response = demo.login("alex@example.com").get(path)
    assert response.status_code == 404


def test_a_device_id_past_an_integer_key_is_not_found(demo):
    """Found by Schemathesis on PostgreSQL: 'integer out of range' was a 500."""
    alex = demo.login("alex@example.com")
    response = alex.api("DELETE", "/api/v1/push/subscriptions/9223372036854775806")
    assert response.status_code == 404 and response.get_json()["error"]


def test_forms_read_numbers_dates_and_times_through_the_portals_fields():
    """WTForms' own number, date and time fields read "٣٠" as 30: forms use portal.forms."""
    import pathlib
    import re

    unsafe = re.compile(
        r"\b(DecimalField|IntegerField|FloatField|DateField|TimeField|DateTimeField)\("
    )
    root = pathlib.Path(__file__).resolve().parent.parent / "portal"
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        if path.name != "forms.py" or path.parent != root
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if unsafe.search(line)
    ]
    assert not offenders, "use portal.forms.Number/Date/Time instead: " + ", ".join(offenders)
