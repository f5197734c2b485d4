"""Migrations build the schema the models describe: no pending autogenerate diff."""

from __future__ import annotations

import os
import tempfile

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from portal import create_app
from portal.extensions import db


def _fresh_database_url() -> tuple[str, callable]:
    """An empty database of the same kind the suite runs on, and its clean-up."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        name = "carecircle_migrations"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = admin.url.set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

        return url, drop
    folder = tempfile.mkdtemp()
    return f"sqlite:///{folder}/migrated.db", lambda: None


def test_upgrade_empty_database_to_head_matches_models():
    url, drop = _fresh_database_url()
    app = create_app(
        {
            "PORTAL_ENV": "test",
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": url,
            "MIGRATIONS": True,
        }
    )
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
                tables = set(inspect(conn).get_table_names())
            assert not diff, f"models and migrations disagree: {diff}"
            assert {"users", "patients", "goals", "audit_events"} <= tables
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


def test_constraints_follow_the_naming_convention(app):
    with app.app_context():
        names = {
            c.name
            for table in db.metadata.tables.values()
            for c in table.constraints
            if c.name is not None
        }
    assert "pk_users" in names
    assert "uq_users_email" in names
    assert "fk_care_team_members_patient_id_patients" in names
