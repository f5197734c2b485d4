"""Each goal's days, added up by the database as entries are written.

`goal_day_totals` holds, per goal and day, the live entries' count, how many
carry a value, the sum of those values and how many were marked done. Triggers
on `progress_entries` keep it, on SQLite and PostgreSQL alike, for every
INSERT, UPDATE (a changed value, day or goal, a soft delete) and DELETE, so it
stays right whoever writes: the ORM, Core, raw SQL, a script run by hand.

Readers (an entry's new achievement, a goal's chart) read at most one row per
day shown, however many entries a day holds: posting an entry used to add up
its goal's last two weeks of entries, a cost that grew with every entry.
A row whose day has no live entry left is kept at zero and skipped by readers.

Derived data: only these triggers and a migration's `fill` write it, and each
trigger fires with the `progress_entries` change that also renews the
patient's `data_version` (portal/versions.py), so kept pages follow. A hand
edit of this table alone would not; fix entries, never their totals.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, MetaData, event, text

CENT = Decimal("0.01")

# Which entries count, and what each adds to its day's row.
_LIVE = "{r}.deleted_at IS NULL"
_ADDS = {
    "total": "COALESCE({r}.value, 0)",
    "valued": "CASE WHEN {r}.value IS NULL THEN 0 ELSE 1 END",
    "done": "CASE WHEN {r}.done THEN 1 ELSE 0 END",
    "entries": "1",
}
_WATCHED = "goal_id, entry_date, value, done, deleted_at"


def _add(r: str) -> str:
    """An upsert adding row `r` (NEW) to its day's totals, if it is live."""
    values = ", ".join(expr.format(r=r) for expr in _ADDS.values())
    sets = ", ".join(f"{col} = goal_day_totals.{col} + excluded.{col}" for col in _ADDS)
    return (
        f"INSERT INTO goal_day_totals (goal_id, entry_date, {', '.join(_ADDS)}) "
        f"SELECT {r}.goal_id, {r}.entry_date, {values} WHERE {_LIVE.format(r=r)} "
        f"ON CONFLICT (goal_id, entry_date) DO UPDATE SET {sets}"
    )


def _remove(r: str) -> str:
    """Take row `r` (OLD), if it was live, off its day's totals.

    A plain UPDATE: when a goal is deleted its totals may already be gone
    (both cascade from the goal), and nothing must be written back for it.
    """
    sets = ", ".join(f"{col} = {col} - {expr.format(r=r)}" for col, expr in _ADDS.items())
    return (
        f"UPDATE goal_day_totals SET {sets} "  # noqa: S608 - constants only
        f"WHERE goal_id = {r}.goal_id AND entry_date = {r}.entry_date AND {_LIVE.format(r=r)}"
    )


def _sqlite() -> list[str]:
    return [
        "CREATE TRIGGER IF NOT EXISTS trg_progress_entries_days_ins "
        f"AFTER INSERT ON progress_entries BEGIN {_add('NEW')}; END",
        "CREATE TRIGGER IF NOT EXISTS trg_progress_entries_days_upd "
        f"AFTER UPDATE OF {_WATCHED} ON progress_entries "
        f"BEGIN {_remove('OLD')}; {_add('NEW')}; END",
        "CREATE TRIGGER IF NOT EXISTS trg_progress_entries_days_del "
        f"AFTER DELETE ON progress_entries BEGIN {_remove('OLD')}; END",
    ]


def _postgres() -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION keep_goal_day_totals() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' THEN
            {_remove("OLD")};
          END IF;
          IF TG_OP <> 'DELETE' THEN
            {_add("NEW")};
          END IF;
          RETURN NULL;
        END $$""",
        "DROP TRIGGER IF EXISTS trg_progress_entries_days ON progress_entries",
        "CREATE TRIGGER trg_progress_entries_days "
        f"AFTER INSERT OR DELETE OR UPDATE OF {_WATCHED} ON progress_entries "
        "FOR EACH ROW EXECUTE FUNCTION keep_goal_day_totals()",
    ]


def create(conn: Connection) -> None:
    """Create the triggers that keep `goal_day_totals`."""
    for statement in _postgres() if conn.dialect.name == "postgresql" else _sqlite():
        conn.execute(text(statement))


def fill(conn: Connection) -> None:
    """Add up the entries already written (a migration, after `create`)."""
    conn.execute(text("DELETE FROM goal_day_totals"))
    sums = ", ".join(f"SUM({expr.format(r='progress_entries')})" for expr in _ADDS.values())
    # Built from this module's constants only: nothing from input.
    statement = (
        f"INSERT INTO goal_day_totals (goal_id, entry_date, {', '.join(_ADDS)}) "  # noqa: S608
        f"SELECT goal_id, entry_date, {sums} FROM progress_entries "
        "WHERE deleted_at IS NULL GROUP BY goal_id, entry_date"
    )
    conn.execute(text(statement))


def drop(conn: Connection) -> None:
    """Remove what `create` made (a migration's downgrade)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP TRIGGER IF EXISTS trg_progress_entries_days ON progress_entries"))
        conn.execute(text("DROP FUNCTION IF EXISTS keep_goal_day_totals()"))
        return
    for op in ("ins", "upd", "del"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS trg_progress_entries_days_{op}"))


def install(metadata: MetaData) -> None:
    """Create the triggers whenever `metadata.create_all` creates the tables (tests, tools)."""

    @event.listens_for(metadata, "after_create")
    def _after_create(target: MetaData, conn: Connection, **_: object) -> None:
        create(conn)


def day_total(raw: object) -> Decimal:
    """A day's sum as read: exact to the cent (SQLite adds values as binary floats)."""
    return Decimal(str(raw)).quantize(CENT)
