"""Plan pages load in a fixed number of queries, whatever the size of the plan."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete

from portal import pagecache
from portal.access import resolve
from portal.auth.models import Discipline, User
from portal.careplan import services
from portal.careplan.models import Activity, ActivityStatus, Assignee, Concern, ConcernCategory
from portal.extensions import db
from portal.goals.models import Goal, GoalCategory


def _plan_of_size(app, demo, items: int) -> None:
    """Replace Alex's plan with `items` concerns, goals and activities in equal thirds."""
    with app.app_context():
        for model in (Activity, Goal, Concern):
            db.session.execute(delete(model).where(model.patient_id == demo.alex))
        rivera = resolve(db.session.get(User, demo.users["rivera@example.com"]), demo.alex)
        team = [demo.users[e] for e in ("rivera@example.com", "lee@example.com", "fox@example.com")]
        for n in range(items // 3):
            services.add_item(
                rivera, "concern", {"title": f"Concern {n}", "category": ConcernCategory.SOCIAL}
            )
            goal = services.add_item(
                rivera, "goal", {"title": f"Goal {n}", "category": GoalCategory.SLEEP}
            )
            goal.agreed_by_id = demo.users["alex@example.com"]
            services.add_item(
                rivera,
                "activity",
                {
                    "title": f"Activity {n}",
                    "discipline": Discipline.SOCIAL_WORK,
                    "assignee": Assignee.TEAM,
                    "assignee_user_id": team[n % 3],
                    "status": ActivityStatus.PLANNED,
                },
            )
        db.session.commit()


def _without_tokens(html: str) -> str:
    return re.sub(r'(name="csrf[-_]token" (?:content|value)=")[^"]+', r"\1", html)


@pytest.mark.parametrize("cached", [False, True], ids=["rendered", "cached"])
@pytest.mark.parametrize("who", ["alex@example.com", "rivera@example.com", "sam@example.com"])
@pytest.mark.parametrize("page", ["/p/{pid}/plan", "/p/{pid}/", "/p/{pid}/plan/history"])
def test_plan_pages_query_count_does_not_grow(demo, app, count_queries, who, page, cached):
    """Whether the plan comes from the page cache or is loaded and rendered.

    A clinician's patient home is a redirect to the plan: what is counted is
    the page they land on, never the redirect's few queries.
    """
    client = demo.login(who)
    url = page.format(pid=demo.alex)
    first = client.get(url)
    if first.status_code == 302:
        assert who == "rivera@example.com" and page == "/p/{pid}/", first.status_code
        url = first.headers["Location"]
        assert url.endswith(f"/p/{demo.alex}/plan"), url
    counts = {}
    for size in (3, 60):
        _plan_of_size(app, demo, size)
        client.get(url)  # warm: the first request after a change may refresh the session row
        if not cached:
            pagecache.cache_of(app).clear()
        with count_queries() as counter:
            response = client.get(url)
        assert response.status_code == 200, response.status_code
        counts[size] = counter.count
    assert counts[3] == counts[60], counts
    assert counts[60] <= 14, counts


def test_a_cached_plan_skips_loading_the_items(demo, app, count_queries):
    client = demo.login("alex@example.com")
    url = f"/p/{demo.alex}/plan"
    client.get(url)
    pagecache.cache_of(app).clear()
    with count_queries() as rendered:
        first = client.get(url).get_data(as_text=True)
    with count_queries() as cached:
        second = client.get(url).get_data(as_text=True)
    # The same page, but for the CSRF token: signed with the time, it changes each second.
    assert _without_tokens(first) != first  # there were tokens to leave out
    assert _without_tokens(first) == _without_tokens(second)
    assert "What changed since you last looked" in first  # Alex has unseen changes

    def tables(counter) -> set[str]:
        found = set()
        for statement in counter.statements:
            found |= set(re.findall(r"\bFROM (\w+)", statement))
        return found

    skipped = {
        "concerns",
        "goals",
        "activities",
        "care_team_members",
        "plan_revisions",
        "decisions",
    }
    assert skipped <= tables(rendered), rendered.statements
    assert not skipped & tables(cached), cached.statements
    # Access, the session and the audit row are per request, cached or not; a kept
    # page skips the items, team, changes, decisions and what matters to the
    # patient: one statement per skipped table, and one for the preferences.
    assert cached.count == rendered.count - len(skipped) - 1, (
        rendered.statements,
        cached.statements,
    )
    assert any(s.lstrip().upper().startswith("INSERT INTO AUDIT") for s in cached.statements)


def test_panel_query_count_does_not_grow(demo, app, count_queries):
    from portal.careplan.models import CareTeamMember
    from portal.patients import Patient

    client = demo.login("rivera@example.com")
    counts = []
    for extra in (0, 40):
        with app.app_context():
            for n in range(extra):
                patient = Patient(given_name=f"Pat{n}", family_name="Example")
                db.session.add(patient)
                db.session.flush()
                db.session.add(
                    CareTeamMember(
                        patient_id=patient.id,
                        user_id=demo.users["rivera@example.com"],
                        role="Primary care physician",
                        discipline=Discipline.PRIMARY_CARE,
                    )
                )
            db.session.commit()
        with count_queries() as counter:
            assert client.get("/clinic/").status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
