"""The database refuses to change an audit row: UPDATE raises, on both databases.

Deleting is left to the verifier (a deleted row breaks the chain where it
was): the test suite empties every table between tests, and retention may
one day remove the oldest rows on purpose. A change, the quiet attack, is
refused outright here and caught by the seals if the trigger is dropped.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, event, text

TABLES = ("audit_events", "audit_list_spans")
_MESSAGE = "the audit trail is append-only: its rows are never changed"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}';
END
$$
"""


def create(conn: Connection, tables: tuple[str, ...] = TABLES) -> None:
    """Create the triggers refusing UPDATE on the audit tables.

    A migration names the tables as they were at its revision: `TABLES` is today's.
    """
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text(_PG_FUNCTION))
    for table in tables:
        name = f"trg_{table}_append_only"
        if postgres:
            statement = (
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
        else:
            statement = (
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
        conn.execute(text(statement))


def drop(conn: Connection, tables: tuple[str, ...] = TABLES) -> None:
    """Remove what `create` made (a migration's downgrade, a test playing the intruder)."""
    postgres = conn.dialect.name == "postgresql"
    for table in tables:
        on = f" ON {table}" if postgres else ""
        conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_append_only{on}"))
    if postgres:
        conn.execute(text("DROP FUNCTION IF EXISTS audit_append_only()"))


def install(metadata: MetaData) -> None:
    """Create the triggers whenever `metadata.create_all` creates the tables (tests, tools)."""

    @event.listens_for(metadata, "after_create")
    def _after_create(target: MetaData, conn: Connection, **_: object) -> None:
        create(conn)
