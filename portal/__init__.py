"""CareCircle: the patient portal of an integrated care practice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask

from portal import config as settings
from portal import logs, request_checks

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, errors, request hooks, CLI."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(settings.load(Path(app.instance_path), config))
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    request_checks.install(app)  # before any route: it swaps in the URL id converter
    register_extensions(app)
    register_blueprints(app)
    from portal import pagecache, web

    pagecache.install(app)
    web.register_errorhandlers(app)
    web.register_request_hooks(app)
    web.register_template_helpers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from portal.db_events import engine_options
    from portal.extensions import csrf, db, login_manager

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    db.init_app(app)
    if app.config["MIGRATIONS"] or click.get_current_context(silent=True) is not None:
        register_migrations(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see this page."
    login_manager.login_message_category = "info"
    # Sessions live on the server (portal.auth): revoked there, timed out
    # there. Flask-Login's IP/User-Agent "protection" would only mark them
    # non-fresh, which nothing here uses, and phones change address all day.
    login_manager.session_protection = None
    csrf.init_app(app)
    with app.app_context():
        from portal import models  # noqa: F401  (register every table with the metadata)
        from portal.db_events import configure_engine

        configure_engine(db.engine)


def register_migrations(app: Flask) -> None:
    """Flask-Migrate, for `flask db ...` and code that migrates (tests).

    Only then: it loads Alembic, 11 MiB that no web worker needs. The `flask`
    command line runs inside a click context; anything else that migrates
    sets MIGRATIONS.
    """
    from flask_migrate import Migrate

    from portal.extensions import db

    Migrate(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)


def register_blueprints(app: Flask) -> None:
    from portal import api, health
    from portal.admin import views as admin_views
    from portal.audit import views as audit_views
    from portal.auth import account_views, mfa_views, profile_views
    from portal.auth import views as auth_views
    from portal.caregivers import views as caregiver_views
    from portal.careplan import views as careplan_views
    from portal.clinic import views as clinic_views
    from portal.decisions import preferences_views
    from portal.decisions import views as decision_views
    from portal.enrolment import views as enrolment_views
    from portal.goals import views as goals_views
    from portal.notifications import views as notification_views
    from portal.pwa import views as pwa_views

    for blueprint in (
        health.bp,
        auth_views.bp,
        account_views.bp,
        profile_views.bp,
        mfa_views.bp,
        careplan_views.bp,
        caregiver_views.bp,
        clinic_views.bp,
        goals_views.bp,
        preferences_views.bp,
        decision_views.bp,
        api.bp,
        notification_views.bp,
        pwa_views.bp,
        admin_views.bp,
        enrolment_views.bp,
        audit_views.bp,
    ):
        app.register_blueprint(blueprint)


def register_commands(app: Flask) -> None:
    from portal import cli

    cli.register(app)
