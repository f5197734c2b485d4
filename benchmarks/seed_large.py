"""Grow the benchmark's clinic to 10,000 more patients and 1,000,000 progress entries (bench only).

Run inside the benchmark's environment after `seed-demo` and `seed_panel.py`:
`python benchmarks/seed_large.py [PATIENTS] [ENTRIES]`. The demo clinic and
Dr. Rivera's panel stay as they are, so every page measures the same people;
only the tables around them grow, as a clinic's do over a few years:

- 50 more clinicians, each with a panel of PATIENTS / 50 patients;
- each patient two daily goals, one of them waiting for a team reply (so the
  clinic has PATIENTS goals waiting, on other clinicians' panels);
- ENTRIES progress entries spread evenly over those goals, one a day going
  back from yesterday (so a goal's 14-day window holds 14 of them).

Rows go in with Core executemany in chunks on SQLite and COPY on PostgreSQL,
the entries with one INSERT ... SELECT over number series (never the ORM, row
by row), with explicit ids taken after the current maximum;
on PostgreSQL the id sequences are moved past them and the tables analysed
afterwards, as autovacuum would.
Any database trigger (e.g. one that keeps versions) fires as for any writer.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.engine import Connection

from portal import create_app
from portal.auth.models import Discipline, User, UserKind
from portal.careplan.models import CareTeamMember
from portal.extensions import db
from portal.goals.models import Frequency, Goal, GoalCategory, GoalStatus, ProgressEntry
from portal.patients import Patient

CLINICIANS = 50
GOALS_PER_PATIENT = 2
CHUNK = 20_000


def _next_id(conn: Connection, table: Table) -> int:
    return (conn.scalar(select(func.max(table.c.id))) or 0) + 1


def _insert(conn: Connection, table: Table, rows: Iterator[dict]) -> int:
    """executemany in chunks, so a million rows never sit in memory at once; COPY on PostgreSQL."""
    started = time.monotonic()
    done = (_copy if conn.dialect.name == "postgresql" else _executemany)(conn, table, rows)
    print(f"  {table.name}: {done:,} rows in {time.monotonic() - started:.1f} s", flush=True)
    return done


def _executemany(conn: Connection, table: Table, rows: Iterator[dict]) -> int:
    done, chunk = 0, []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            conn.execute(table.insert(), chunk)
            done, chunk = done + len(chunk), []
    if chunk:
        conn.execute(table.insert(), chunk)
        done += len(chunk)
    return done


def _copy(conn: Connection, table: Table, rows: Iterator[dict]) -> int:
    """PostgreSQL COPY, each value converted by its column's type as an INSERT would.

    executemany sends a million rows one round trip each (over five minutes
    here); COPY streams them. Columns the rows leave out get their Python-side
    default, as Core would give them.
    """
    first = next(rows, None)
    if first is None:
        return 0
    dialect = conn.dialect
    extra = [c for c in table.columns if c.name not in first and c.default is not None]
    names = [*first, *(c.name for c in extra)]
    convert = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    quote = dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(map(quote, names))}) FROM STDIN"
    done = 0
    with conn.connection.dbapi_connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in chain([first], rows):
            values = [row[n] for n in first] + [_default(c) for c in extra]
            copy.write_row([f(v) if f else v for f, v in zip(convert, values, strict=True)])
            done += 1
    return done


def _generate_entries(
    conn: Connection,
    table: Table,
    entry0: int,
    goal0: int,
    patient0: int,
    user0: int,
    goals: int,
    days: int,
    entries: int,
) -> int:
    """`entries` entries, one a day per goal going back from yesterday, made by the database.

    Even COPY spends about 20 s of Python per 100,000 rows on a busy 2-core
    machine, executemany on SQLite about as much; a single INSERT ... SELECT
    over two number series runs in the database. Columns left out get their
    Python-side default, evaluated once. On PostgreSQL the foreign-key checks
    (three per row, with row locks) took most of the rest; they are skipped for
    this one statement (session_replication_role = replica, which also skips
    triggers): the rows point at what was inserted just before, by
    construction, and seeding a state is not a change any kept page could have
    seen. SQLite's checks are plain index lookups and stay.
    """
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        day = "CAST(:yesterday AS date) - d"
        created = f"({day})::timestamp AT TIME ZONE 'UTC'"
        series = "generate_series(0, :goals - 1) AS g, generate_series(0, :days - 1) AS d"
        with_series = ""
    else:  # dates as SQLAlchemy stores them on SQLite: ISO text
        day = "date(:yesterday, '-' || d || ' days')"
        created = f"{day} || ' 00:00:00.000000'"
        series = "gs, ds"
        with_series = (
            "WITH RECURSIVE"
            " gs(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM gs WHERE g + 1 < :goals),"
            " ds(d) AS (SELECT 0 UNION ALL SELECT d + 1 FROM ds WHERE d + 1 < :days) "
        )
    named = {
        "id": ":entry0 + g * :days + d",
        "goal_id": ":goal0 + g",
        "patient_id": ":patient0 + g / 2",
        "entry_date": day,
        "value": "CASE WHEN g % 2 = 0 THEN 10 + d % 30 END",
        "done": "CASE WHEN g % 2 = 1 THEN d % 3 <> 0 END",
        "note": "''",
        "idempotency_key": "'seed-' || (g * :days + d)",
        "fingerprint": ":fingerprint",
        "created_at": created,
        "created_by_id": ":user0 + g / 2",
    }
    extras = [c for c in table.columns if c.name not in named and c.default is not None]
    params = [bindparam(f"x_{c.name}", _default(c), type_=c.type) for c in extras]
    quote = conn.dialect.identifier_preparer.quote
    columns = [*named, *(c.name for c in extras)]
    values = [*named.values(), *(f":x_{c.name}" for c in extras)]
    sql = text(
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "  # noqa: S608 - names from the model
        f"{with_series}SELECT {', '.join(values)} FROM {series}"
        " WHERE g * :days + d < :entries"
    ).bindparams(*params)
    if postgres:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    result = conn.execute(
        sql,
        {
            "entry0": entry0,
            "goal0": goal0,
            "patient0": patient0,
            "user0": user0,
            "goals": goals,
            "days": days,
            "entries": entries,
            "yesterday": (date.today() - timedelta(days=1)).isoformat(),
            "fingerprint": "0" * 64,
        },
    )
    if postgres:
        conn.execute(text("SET LOCAL session_replication_role = origin"))
    return result.rowcount


def _default(column) -> object:
    default = column.default
    return default.arg(None) if default.is_callable else default.arg


def seed_large(patients: int, entries: int) -> dict[str, int]:
    """Insert the large clinic; return how many rows went into each table."""
    users_t, patients_t = User.__table__, Patient.__table__
    team_t, goals_t, entries_t = CareTeamMember.__table__, Goal.__table__, ProgressEntry.__table__
    now = datetime.now(UTC)
    goals = patients * GOALS_PER_PATIENT
    days = max(1, -(-entries // goals))  # entries per goal, one a day
    counts: dict[str, int] = {}
    with db.engine.begin() as conn:
        user0, patient0 = _next_id(conn, users_t), _next_id(conn, patients_t)
        team0, goal0 = _next_id(conn, team_t), _next_id(conn, goals_t)
        entry0 = _next_id(conn, entries_t)
        clinician_ids = list(range(user0, user0 + CLINICIANS))
        patient_user0 = user0 + CLINICIANS

        def users() -> Iterator[dict]:
            for n, uid in enumerate(clinician_ids):
                yield {
                    "id": uid,
                    "email": f"large-clinician{n}@example.com",
                    "password_hash": "!",  # matches no password
                    "name": f"Dr. Large {n}",
                    "kind": UserKind.CLINICIAN,
                    "discipline": Discipline.PRIMARY_CARE,
                    "created_at": now,
                }
            for n in range(patients):
                yield {
                    "id": patient_user0 + n,
                    "email": f"large{n}@example.com",
                    "password_hash": "!",
                    "name": f"Large Patient {n}",
                    "kind": UserKind.PATIENT,
                    "discipline": None,  # executemany: every row names the same columns
                    "created_at": now,
                }

        counts["users"] = _insert(conn, users_t, users())
        counts["patients"] = _insert(
            conn,
            patients_t,
            (
                {
                    "id": patient0 + n,
                    "user_id": patient_user0 + n,
                    "given_name": "Large",
                    "family_name": f"Patient {n:05d}",
                    "created_at": now,
                }
                for n in range(patients)
            ),
        )
        counts["care_team_members"] = _insert(
            conn,
            team_t,
            (
                {
                    "id": team0 + n,
                    "patient_id": patient0 + n,
                    "user_id": clinician_ids[n % CLINICIANS],
                    "role": "Primary care physician",
                    "discipline": Discipline.PRIMARY_CARE,
                    "is_lead": True,
                    "added_at": now,
                }
                for n in range(patients)
            ),
        )

        def goal_rows() -> Iterator[dict]:
            for n in range(goals):
                waiting = n % GOALS_PER_PATIENT == 0
                yield {
                    "id": goal0 + n,
                    "patient_id": patient0 + n // GOALS_PER_PATIENT,
                    "title": "Walk every day" if waiting else "Sleep by eleven",
                    "category": GoalCategory.PHYSICAL_ACTIVITY if waiting else GoalCategory.SLEEP,
                    "measure": "minutes" if waiting else "done",
                    "target_value": Decimal(20) if waiting else None,
                    "frequency": Frequency.DAILY,
                    "status": GoalStatus.ACTIVE,
                    "created_at": now - timedelta(days=days + 1),
                    "updated_at": now,
                    # Spread over the last week, so they sort among the panel's own.
                    "awaiting_reply_since": now - timedelta(minutes=n % 10_000)
                    if waiting
                    else None,
                }

        counts["goals"] = _insert(conn, goals_t, goal_rows())

        started = time.monotonic()
        counts["progress_entries"] = _generate_entries(
            conn, entries_t, entry0, goal0, patient0, patient_user0, goals, days, entries
        )
        print(
            f"  progress_entries: {counts['progress_entries']:,} rows generated"
            f" in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        if conn.dialect.name == "postgresql":
            for table in (users_t, patients_t, team_t, goals_t, entries_t):
                conn.execute(
                    select(
                        func.setval(
                            func.pg_get_serial_sequence(table.name, "id"),
                            select(func.max(table.c.id)).scalar_subquery(),
                        )
                    )
                )
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return counts


if __name__ == "__main__":
    started = time.monotonic()
    app = create_app()
    with app.app_context():
        made = seed_large(
            int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000,
        )
    rows = ", ".join(f"{n:,} {table}" for table, n in made.items())
    print(f"seeded {rows} in {time.monotonic() - started:.0f} s")
