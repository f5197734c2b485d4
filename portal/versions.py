"""Versions the database keeps itself, naming what a kept page shows.

A kept page (portal/pagecache.py) is named by two numbers read in the same
request that serves it:

- `patients.data_version`: a new random number whenever anything about that
  patient changes: the patient row itself, or any row of a table in
  `PATIENT_TABLES` (its plan items, goals, entries, messages, care team,
  revisions). Random rather than counted, so a database restored from a
  backup can never bring back a number that named other content.
- `page_versions.people`: a new random number whenever a user's name, kind,
  discipline, job title or time zone changes. Pages show people by name, and
  a rename is rare, so one number for all of them is enough.

Both are maintained by triggers that this module creates, on SQLite and on
PostgreSQL alike, for `create_all` (tests) and for migrations (which call
`create_triggers` with the tables they know). So every writer makes the next
view fresh, whether it goes through the ORM, Core, raw SQL, or a script run
by hand, and no service has anything to remember.

A new table with a `patient_id` column must be added to `PATIENT_TABLES` (and
its migration must call `create_patient_triggers`), or to `UNVERSIONED` with a
reason; tests/test_versions.py fails until it is one or the other.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, MetaData, event, text

# Tables whose rows belong to one patient (by `patient_id`) and whose changes
# show on that patient's pages.
PATIENT_TABLES: tuple[str, ...] = (
    "concerns",
    "activities",
    "goals",
    "progress_entries",
    "goal_messages",
    "care_team_members",
    "plan_revisions",
    # what matters to the patient (portal/decisions): shown first on the plan
    "patient_preferences",
    "preference_people",
    "preference_changes",
    "preference_reviews",
    "decisions",
    "decision_options",
    "decision_leans",
    "decision_sure_answers",
    "decision_participants",
    "collaborate_answers",
    "decision_messages",
    "caregiver_grants",  # the team page lists each caregiver and what they may do
)
# Tables with a `patient_id` that no kept page shows, and why.
UNVERSIONED: dict[str, str] = {
    "audit_events": "the trail is never shown on a kept page",
    "audit_list_spans": "the trail's index by patient, never shown on a kept page",
    "notifications": "the outbox is not shown on patient pages",
    "plan_reviews": "what a reader has seen is read per request, not kept",
    "caregiver_invitations": "pending invitations show only on the unkept People page",
}
# User columns that pages show (names, roles) or render with (time zone).
PEOPLE_COLUMNS: tuple[str, ...] = ("name", "kind", "discipline", "job_title", "timezone")

_PG_RANDOM = "(floor(random() * 9007199254740991))::bigint"


def _sqlite_patient_triggers(table: str) -> list[str]:
    bump = "UPDATE patients SET data_version = random() WHERE id = {}.patient_id;"
    return [
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_version_ins AFTER INSERT ON {table} "
        f"BEGIN {bump.format('NEW')} END",
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_version_upd AFTER UPDATE ON {table} "
        f"BEGIN {bump.format('OLD')} "
        "UPDATE patients SET data_version = random() "
        "WHERE id = NEW.patient_id AND NEW.patient_id IS NOT OLD.patient_id; END",
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_version_del AFTER DELETE ON {table} "
        f"BEGIN {bump.format('OLD')} END",
    ]


def _sqlite_common() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in PEOPLE_COLUMNS)
    return [
        # A new patient row starts from a random number too: SQLite may reuse
        # the id of a deleted row, whose pages a worker may still keep.
        "CREATE TRIGGER IF NOT EXISTS trg_patients_version_ins AFTER INSERT ON patients "
        "BEGIN UPDATE patients SET data_version = random() WHERE id = NEW.id; END",
        # Any change to the patient row itself (not made by these triggers).
        "CREATE TRIGGER IF NOT EXISTS trg_patients_version AFTER UPDATE ON patients "
        "WHEN NEW.data_version = OLD.data_version "
        "BEGIN UPDATE patients SET data_version = random() WHERE id = NEW.id; END",
        f"CREATE TRIGGER IF NOT EXISTS trg_users_people_version "
        f"AFTER UPDATE OF {', '.join(PEOPLE_COLUMNS)} ON users WHEN {changed} "
        "BEGIN INSERT OR REPLACE INTO page_versions (id, people) VALUES (1, random()); END",
    ]


def _pg_common() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in PEOPLE_COLUMNS)
    return [
        # Statement-level with transition tables: one UPDATE per statement,
        # however many rows it wrote. EXECUTE plans it afresh each time: a plan
        # cached while `patients` was small would scan it once per row.
        f"""CREATE OR REPLACE FUNCTION bump_patient_data_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            EXECUTE 'UPDATE patients SET data_version = {_PG_RANDOM}
              WHERE id IN (SELECT patient_id FROM new_rows)';
          ELSIF TG_OP = 'UPDATE' THEN
            EXECUTE 'UPDATE patients SET data_version = {_PG_RANDOM}
              WHERE id IN (SELECT patient_id FROM old_rows
                           UNION SELECT patient_id FROM new_rows)';
          ELSE
            EXECUTE 'UPDATE patients SET data_version = {_PG_RANDOM}
              WHERE id IN (SELECT patient_id FROM old_rows)';
          END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION renew_own_data_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' OR NEW.data_version = OLD.data_version THEN
            NEW.data_version := {_PG_RANDOM};
          END IF;
          RETURN NEW;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION bump_people_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO page_versions (id, people) VALUES (1, {_PG_RANDOM})
            ON CONFLICT (id) DO UPDATE SET people = EXCLUDED.people;
          RETURN NULL;
        END $$""",
        "DROP TRIGGER IF EXISTS trg_patients_version ON patients",
        "CREATE TRIGGER trg_patients_version BEFORE INSERT OR UPDATE ON patients "
        "FOR EACH ROW EXECUTE FUNCTION renew_own_data_version()",
        "DROP TRIGGER IF EXISTS trg_users_people_version ON users",
        f"CREATE TRIGGER trg_users_people_version "
        f"AFTER UPDATE OF {', '.join(PEOPLE_COLUMNS)} ON users "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION bump_people_version()",
    ]


def _pg_patient_triggers(table: str) -> list[str]:
    tables = {
        "ins": ("INSERT", "NEW TABLE AS new_rows"),
        "upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        "del": ("DELETE", "OLD TABLE AS old_rows"),
    }
    statements = []
    for op, (what, referencing) in tables.items():
        statements += [
            f"DROP TRIGGER IF EXISTS trg_{table}_version_{op} ON {table}",
            f"CREATE TRIGGER trg_{table}_version_{op} AFTER {what} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT "
            "EXECUTE FUNCTION bump_patient_data_version()",
        ]
    return statements


def create_triggers(conn: Connection, tables: Iterable[str] = PATIENT_TABLES) -> None:
    """Create the version triggers: the patient and user ones, and one set per table."""
    common = _pg_common() if conn.dialect.name == "postgresql" else _sqlite_common()
    for statement in common:
        conn.execute(text(statement))
    create_patient_triggers(conn, tables)


def create_patient_triggers(conn: Connection, tables: Iterable[str]) -> None:
    """Make changes to rows of `tables` renew their patient's `data_version`."""
    make = _pg_patient_triggers if conn.dialect.name == "postgresql" else _sqlite_patient_triggers
    for table in tables:
        for statement in make(table):
            conn.execute(text(statement))


def drop_triggers(conn: Connection, tables: Iterable[str] = PATIENT_TABLES) -> None:
    """Remove what `create_triggers` made (a migration's downgrade)."""
    postgres = conn.dialect.name == "postgresql"
    names = [("trg_patients_version", "patients"), ("trg_users_people_version", "users")]
    if not postgres:
        names.append(("trg_patients_version_ins", "patients"))
    for table in tables:
        names += [(f"trg_{table}_version_{op}", table) for op in ("ins", "upd", "del")]
    for name, table in names:
        on = f" ON {table}" if postgres else ""
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}{on}"))
    if postgres:
        for function in ("bump_patient_data_version", "renew_own_data_version"):
            conn.execute(text(f"DROP FUNCTION IF EXISTS {function}()"))
        conn.execute(text("DROP FUNCTION IF EXISTS bump_people_version()"))


def install(metadata: MetaData) -> None:
    """Create the triggers whenever `metadata.create_all` creates the tables (tests, tools)."""

    @event.listens_for(metadata, "after_create")
    def _after_create(target: MetaData, conn: Connection, **_: object) -> None:
        create_triggers(conn)
