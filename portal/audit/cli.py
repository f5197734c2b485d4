"""`flask audit verify`: check the audit trail's seals, row by row."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import Connection

from portal.audit import chain, listed
from portal.extensions import db

audit = AppGroup("audit", help="Check the audit trail; index its list events.")


@audit.command("index")
def index() -> None:
    """Index the list events not yet in the access log's index (the deliverer's loop does too)."""
    rows = listed.index_all(db.session)
    click.echo(f"Indexed the list events among {rows} new audit rows.")


def _one_snapshot(connection: Connection) -> Connection:
    """Every read of the walk sees one state of the trail and its index.

    Views append rows and the deliverer indexes them while the verifier walks:
    read at different moments, a span could seem to name an event not there.
    """
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="REPEATABLE READ")
    connection.exec_driver_sql("BEGIN")  # pysqlite opens no transaction for reads
    return connection


@audit.command("verify")
@click.option("--batch-size", default=5000, show_default=True, help="Rows read per query.")
def verify(batch_size: int) -> None:
    """Exit 0 when every row's seal holds; otherwise name the first bad row and exit 1."""
    with db.engine.connect() as connection:
        report = chain.verify(_one_snapshot(connection), batch_size)
    if report.problem is not None:
        click.echo(f"Audit trail BROKEN at {report.problem}.", err=True)
        click.echo(f"The {report.rows} rows before it are intact.", err=True)
        raise SystemExit(1)
    if report.rows == 0:
        click.echo("Audit trail intact: it is empty.")
        return
    click.echo(
        f"Audit trail intact: {report.rows} rows, the last is row {report.last_id} "
        f"of {report.last_at:%Y-%m-%d %H:%M:%S} UTC."
    )
