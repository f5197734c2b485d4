"""Every patient route, for caregiver grants of every shape (issue 12's access matrix).

Each variant gives a fresh account one grant for Alex (each scope alone, the
demo's set without sensitive items, everything with them, revoked, expired,
not yet begun, and a guardian at 10, 14 and 19) and requests every
patient-scoped case of the matrix. The expected answer comes from the same
rule the main matrix derives the "caregiver" relation from
(tests/caregiver_rules.py). A 200 never shows a sensitive item to a grant
without the sensitive scope, and every answered request leaves an audit row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select, update

from portal.access import CAREGIVER_SCOPES, Scope
from portal.auth.models import AuthSession, User, UserKind
from portal.auth.services import create_user
from portal.caregivers.models import Grant, GrantKind
from portal.careplan.models import Activity, Concern
from portal.db import utcnow
from portal.extensions import db
from portal.goals.models import Goal
from portal.patients import Patient
from tests.caregiver_rules import required_scopes, with_grant, without_grant
from tests.conftest import DEMO_PASSWORD
from tests.test_access_matrix import CASES, _audit_rows


@dataclass(frozen=True)
class Variant:
    name: str
    scopes: frozenset[str]
    sensitive: bool = False
    kind: GrantKind = GrantKind.CAREGIVER
    starts: int = -1  # days from now
    ends: int = 30
    revoked: bool = False
    age: int | None = None  # Alex's age for a guardian variant
    sees: frozenset[str] | None = None  # the scopes it should act with (None: nothing)


def _alone(scope: str) -> Variant:
    return Variant(f"only {scope}", frozenset({scope}), sees=frozenset({scope}))


SAM = frozenset({Scope.PLAN_READ, Scope.GOALS_READ, Scope.GOALS_LOG, Scope.MESSAGES})
VARIANTS = [
    *(_alone(scope) for scope in sorted(CAREGIVER_SCOPES)),
    Variant("without sensitive", SAM, sees=SAM),
    Variant(
        "with sensitive",
        CAREGIVER_SCOPES,
        sensitive=True,
        sees=CAREGIVER_SCOPES | {Scope.SENSITIVE},
    ),
    Variant("revoked", SAM, revoked=True),
    Variant("expired", SAM, starts=-400, ends=-1),
    Variant("not yet begun", SAM, starts=2, ends=30),
    Variant(
        "guardian of a 10-year-old",
        CAREGIVER_SCOPES,
        sensitive=True,
        kind=GrantKind.GUARDIAN,
        age=10,
        sees=CAREGIVER_SCOPES | {Scope.SENSITIVE},
    ),
    Variant(
        "guardian of a 14-year-old",
        CAREGIVER_SCOPES,
        sensitive=True,
        kind=GrantKind.GUARDIAN,
        age=14,
        sees=CAREGIVER_SCOPES,
    ),
    Variant(
        "guardian of a 19-year-old",
        CAREGIVER_SCOPES,
        sensitive=True,
        kind=GrantKind.GUARDIAN,
        age=19,
    ),
]

# Patient routes only (the rest do not depend on any grant), in one session per variant:
# a new entry would become "Alex's newest" that later cases change, so it comes late;
# stepping down ends the grant, so it comes last.
LATE = {("goals.add_entry", "POST"): 1, ("api.goals_add_entry", "POST"): 1}
LATE[("caregivers.step_down", "POST")] = 2
PATIENT_CASES = sorted(
    (c for c in CASES if required_scopes().get(c.endpoint) is not None),
    key=lambda c: LATE.get((c.endpoint, c.method), 0),
)


def _grant(demo, variant: Variant) -> str:
    email = f"variant-{uuid.uuid4().hex[:8]}@example.com"
    with demo.app.app_context():
        user = create_user(email, DEMO_PASSWORD, "Casey Variant", UserKind.CAREGIVER)
        now = utcnow()
        db.session.add(
            Grant(
                patient_id=demo.alex,
                caregiver_id=user.id,
                kind=variant.kind,
                relationship="Family",
                scopes=" ".join(sorted(variant.scopes)),
                include_sensitive=variant.sensitive,
                starts_at=now + timedelta(days=variant.starts),
                ends_at=now + timedelta(days=variant.ends),
                revoked_at=now if variant.revoked else None,
            )
        )
        if variant.age is not None:
            today = date.today()
            born = date(today.year - variant.age, 1, 1) - timedelta(days=1)
            db.session.execute(
                update(Patient).where(Patient.id == demo.alex).values(birth_date=born)
            )
        db.session.commit()
    return email


def _session_live(demo, email: str) -> bool:
    """Whether the account still has a signed-in session that no request has ended."""
    with demo.app.app_context():
        live = db.session.scalar(
            select(func.count())
            .select_from(AuthSession)
            .join(User, User.id == AuthSession.user_id)
            .where(
                User.email == email,
                AuthSession.revoked_at.is_(None),
                AuthSession.pending.is_(None),
            )
        )
        db.session.remove()
    return live > 0


def _sensitive_titles(demo) -> list[str]:
    with demo.app.app_context():
        return [
            title
            for model in (Concern, Goal, Activity)
            for title in db.session.scalars(
                select(model.title).where(
                    model.patient_id == demo.alex, model.sensitivity.is_not(None)
                )
            )
        ]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_every_patient_route_for_a_grant(demo, variant: Variant):
    email = _grant(demo, variant)
    secrets = _sensitive_titles(demo)
    assert secrets, "the demo has sensitive items to hide"
    rule = with_grant(variant.sees) if variant.sees is not None else without_grant
    wrong = []
    signed_in = demo.login(email)
    for case in PATIENT_CASES:
        # Each case from the cookies the sign-in left (a fresh client: no flash or
        # cookie of the case before), in the same server-side session while it
        # lives: signing in through the form for each case was most of the time.
        if not _session_live(demo, email):
            signed_in = demo.login(email)
        client = signed_in.clone()
        with demo.app.test_request_context():
            args = case.args(demo)
            url = url_for(case.endpoint, **args)
        kwargs: dict = {"headers": dict(case.headers)}
        if case.form is not None:
            kwargs["data"] = {**case.form(demo), "csrf_token": client.csrf()}
        elif case.json is not None:
            kwargs["json"] = case.json(demo)
            kwargs["headers"]["X-CSRFToken"] = client.csrf()
        elif case.method != "GET":
            kwargs["data"] = {"csrf_token": client.csrf()}
        before = _audit_rows(demo, args.get("patient_id"))
        response = client.open(url, method=case.method, **kwargs)
        expected = rule(case)
        if response.status_code != expected:
            wrong.append(f"{case.id}: {response.status_code}, expected {expected}")
            continue
        body = response.get_data(as_text=True)
        if Scope.SENSITIVE not in (variant.sees or ()):
            leaked = [s for s in secrets if s in body]
            if leaked:
                wrong.append(f"{case.id}: shows sensitive {leaked}")
        if response.status_code == 404:
            assert "Morgan" not in body, f"{case.id}: a hidden patient's name leaked"
        served = response.status_code < 300 or (case.method != "GET" and response.status_code < 400)
        if served and _audit_rows(demo, args.get("patient_id")) <= before:
            wrong.append(f"{case.id}: answered without an audit row")
    assert not wrong, f"{variant.name}:\n" + "\n".join(wrong)


def test_a_guardian_grant_ends_at_eighteen_unless_granted_anew(demo):
    """The guardian of a 17-year-old acts; a day after the 18th birthday, nothing."""
    variant = Variant("guardian", CAREGIVER_SCOPES, sensitive=True, kind=GrantKind.GUARDIAN, age=17)
    email = _grant(demo, variant)
    client = demo.login(email)
    assert client.get(f"/p/{demo.alex}/plan").status_code == 200
    with demo.app.app_context():
        today = date.today()
        eighteen_yesterday = today.replace(year=today.year - 18) - timedelta(days=1)
        db.session.execute(
            update(Patient).where(Patient.id == demo.alex).values(birth_date=eighteen_yesterday)
        )
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Grant)) >= 1
    assert client.get(f"/p/{demo.alex}/plan").status_code == 404
