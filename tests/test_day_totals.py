"""Each goal's days are kept added up by the database (portal/goals/day_totals.py).

Whatever writes an entry (the service, the ORM, Core, raw SQL, a cascade), the
kept totals equal what adding up the live entries gives, and readers (the
entry POST's achievement, the goal page's chart) see the change at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from portal.db import utcnow
from portal.extensions import db
from portal.goals import day_totals, reading
from portal.goals import entries as entries_module
from portal.goals.models import Goal, GoalDayTotal, ProgressEntry
from tests.factories import Clinic

DAY = date(2026, 11, 20)


def _added_up() -> dict[tuple[int, date], tuple[Decimal, int, int, int]]:
    """What adding up the live entries gives, per (goal, day)."""
    rows = db.session.execute(
        select(
            ProgressEntry.goal_id,
            ProgressEntry.entry_date,
            func.sum(ProgressEntry.value),
            func.count(ProgressEntry.value),
            func.sum(func.coalesce(func.cast(ProgressEntry.done, db.Integer), 0)),
            func.count(),
        )
        .where(ProgressEntry.deleted_at.is_(None))
        .group_by(ProgressEntry.goal_id, ProgressEntry.entry_date)
    )
    return {
        (goal, day): (day_totals.day_total(total or 0), valued, done, n)
        for goal, day, total, valued, done, n in rows
    }


def _kept() -> dict[tuple[int, date], tuple[Decimal, int, int, int]]:
    """The kept totals, days without a live entry left out (as readers skip them)."""
    rows = db.session.execute(
        select(
            GoalDayTotal.goal_id,
            GoalDayTotal.entry_date,
            GoalDayTotal.total,
            GoalDayTotal.valued,
            GoalDayTotal.done,
            GoalDayTotal.entries,
        ).where(GoalDayTotal.entries > 0)
    )
    return {
        (goal, day): (day_totals.day_total(total), valued, done, n)
        for goal, day, total, valued, done, n in rows
    }


def _entry(goal: int, patient: int, day: date = DAY, value=None, done=None, key=None) -> dict:
    return {
        "goal_id": goal,
        "patient_id": patient,
        "entry_date": day,
        "value": value,
        "done": done,
        "note": "",
        "idempotency_key": key or f"k-{goal}-{day}-{value}-{done}-{utcnow().timestamp()}",
        "fingerprint": "f",
        "created_at": utcnow(),
    }


@pytest.fixture()
def goals(app):
    clinic = Clinic(app)
    patient = clinic.patient()
    walk = clinic.goal(patient, "Walk after lunch", measure="minutes")
    other = clinic.goal(patient, "Stretch", measure="minutes")
    return patient, walk, other


def test_every_kind_of_writer_keeps_the_days_added_up(app_ctx, goals):
    record, walk, other = goals
    patient = record.id
    # The ORM.
    db.session.add(ProgressEntry(**_entry(walk, patient, value=Decimal("10.10"), key="a")))
    db.session.add(ProgressEntry(**_entry(walk, patient, value=Decimal("0.20"), key="b")))
    db.session.add(ProgressEntry(**_entry(walk, patient, done=True, key="c")))
    db.session.flush()
    assert _kept() == _added_up() == {(walk, DAY): (Decimal("10.30"), 2, 1, 3)}

    # Core: an insert, a changed value, an entry moved to another day and goal.
    db.session.execute(insert(ProgressEntry).values(**_entry(walk, patient, value=5, key="d")))
    db.session.execute(
        update(ProgressEntry).where(ProgressEntry.idempotency_key == "a").values(value=1)
    )
    db.session.execute(
        update(ProgressEntry)
        .where(ProgressEntry.idempotency_key == "b")
        .values(goal_id=other, entry_date=DAY - timedelta(days=1))
    )
    assert _kept() == _added_up()
    assert _kept()[(walk, DAY)] == (Decimal("6.00"), 2, 1, 3)
    assert _kept()[(other, DAY - timedelta(days=1))] == (Decimal("0.20"), 1, 0, 1)

    # Raw SQL: a soft delete, an undelete, a hard delete, a value removed.
    db.session.execute(
        text("UPDATE progress_entries SET deleted_at = :now WHERE idempotency_key = 'd'"),
        {"now": utcnow()},
    )
    assert _kept()[(walk, DAY)] == (Decimal("1.00"), 1, 1, 2)
    db.session.execute(
        text("UPDATE progress_entries SET deleted_at = NULL WHERE idempotency_key = 'd'")
    )
    db.session.execute(text("DELETE FROM progress_entries WHERE idempotency_key = 'c'"))
    db.session.execute(
        text("UPDATE progress_entries SET value = NULL, done = :t WHERE idempotency_key = 'a'"),
        {"t": True},
    )
    assert (
        _kept()
        == _added_up()
        == {
            (walk, DAY): (Decimal("5.00"), 1, 1, 2),
            (other, DAY - timedelta(days=1)): (Decimal("0.20"), 1, 0, 1),
        }
    )
    # A soft-deleted entry changed again (an edit racing a delete) stays uncounted.
    db.session.execute(
        text("UPDATE progress_entries SET deleted_at = :now WHERE idempotency_key = 'b'"),
        {"now": utcnow()},
    )
    db.session.execute(
        text("UPDATE progress_entries SET value = 99 WHERE idempotency_key = 'b'"),
    )
    assert _kept() == _added_up() == {(walk, DAY): (Decimal("5.00"), 1, 1, 2)}
    db.session.rollback()


def test_a_day_of_cents_adds_up_exactly(app_ctx, goals):
    """SQLite adds binary floats; what readers get is exact to the cent."""
    record, walk, _other = goals
    patient = record.id
    for n in range(30):
        db.session.execute(
            insert(ProgressEntry).values(
                **_entry(walk, patient, value=Decimal("0.10"), key=f"c{n}")
            )
        )
    for n in range(0, 30, 3):
        db.session.execute(delete(ProgressEntry).where(ProgressEntry.idempotency_key == f"c{n}"))
    assert _kept()[(walk, DAY)] == (Decimal("2.00"), 20, 0, 20)
    db.session.rollback()


def test_deleting_a_goal_or_patient_takes_its_days_with_it(app_ctx, goals):
    record, walk, other = goals
    patient = record.id
    for goal in (walk, other):
        db.session.execute(insert(ProgressEntry).values(**_entry(goal, patient, value=3)))
    db.session.commit()
    db.session.execute(delete(Goal).where(Goal.id == walk))  # cascades to its entries
    db.session.commit()
    assert db.session.scalars(select(GoalDayTotal.goal_id)).all() == [other]
    db.session.execute(text("DELETE FROM patients WHERE id = :p"), {"p": patient})
    db.session.commit()
    assert db.session.scalars(select(GoalDayTotal.goal_id)).all() == []


def test_fill_adds_up_what_was_written_before_the_triggers(app_ctx, goals):
    """The migration's `fill`: the same totals as the triggers kept."""
    record, walk, other = goals
    patient = record.id
    for n, (goal, value, done) in enumerate(
        [(walk, 4, None), (walk, None, True), (other, 7, True)]
    ):
        db.session.execute(
            insert(ProgressEntry).values(
                **_entry(goal, patient, DAY - timedelta(days=n), value, done, key=f"f{n}")
            )
        )
    kept = _kept()
    day_totals.fill(db.session.connection())
    assert _kept() == kept == _added_up()
    db.session.rollback()


def test_posted_entries_count_in_the_goal_page_at_once(app, goals):
    """Through the API, then read back as the goal page's chart and achievement read it."""
    record, walk, _other = goals
    patient = record.id
    client = Clinic(app).login(record.email)
    url = f"/api/v1/patients/{patient}/goals/{walk}/entries"
    for value, key in (
        ("12", "entry-one"),
        ("8", "entry-two"),
        ("8", "entry-two"),
    ):  # the last is a replay
        response = client.api("POST", url, json={"value": value}, headers={"Idempotency-Key": key})
        assert response.status_code in (200, 201), response.get_data(as_text=True)
    with app.app_context():
        assert list(_kept().values()) == [(Decimal("20.00"), 2, 0, 2)]
        assert _kept() == _added_up()
        (day,) = {day for _goal, day in _kept()}
        goal = db.session.get(Goal, walk)
        # What the goal page's chart and the achievement read: the day, added up.
        assert reading.entry_rows([goal], day) == {walk: [(day, Decimal("20.00"), False)]}


@pytest.mark.parametrize(
    ("measure", "low", "outside", "high", "several", "expected"),
    [
        # A day's entries add up: the week before under target, this week over it.
        ("minutes", "5", "500", "30", ("30", "1"), "achieved"),
        # A day's entries average: 8 hours every day, also the day logged three times
        # (added up, that day would read 24 and the week "improving").
        ("sleep_hours", "8", "20", "8", ("8", "8"), "no_change"),
    ],
)
def test_the_posts_achievement_counts_every_kept_day_in_its_window(
    app, measure, low, outside, high, several, expected
):
    """The POST reads the kept days with the goal; its achievement is the full recount's."""
    clinic = Clinic(app)
    record = clinic.patient()
    walk = clinic.goal(record, "Kept days", measure=measure)
    patient = record.id
    client = clinic.login(record.email)
    url = f"/api/v1/patients/{patient}/goals/{walk}/entries"
    with app.app_context():
        # The patient's own day, as the POST works it out.
        today = reading.patient_today(clinic._access(record.user.id, patient))
    # Two weeks back and forth: the week before well under target, this week over it,
    # with a day of several entries and one outside the window (ignored).
    posts = [(days, low) for days in range(8, 14)] + [(20, outside)]
    posts += [(days, high) for days in range(1, 7)] + [(3, value) for value in several]
    for n, (days_ago, value) in enumerate(posts):
        day = (today - timedelta(days=days_ago)).isoformat()
        response = client.api(
            "POST",
            url,
            json={"value": value, "entry_date": day},
            headers={"Idempotency-Key": f"window-{n:04d}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    with app.app_context():
        goal = db.session.get(Goal, walk)
        stored = goal.achievement
        entries_module.refresh_achievement(goal, today)  # the recount, from every entry
        assert goal.achievement is stored
        assert stored.value == expected, stored
        db.session.rollback()
