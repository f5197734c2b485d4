"""A pytest plugin: everything the app's loggers emit during the whole run, scanned for health data.

A handler at DEBUG on the root logger (kept across `create_app`'s logging
setup) formats each record from the app's loggers with the portal's own text
formatter, as the console would write it. When the run ends, every line is
searched for each demo patient's name and every demo goal, concern, activity,
entry note and message text; a hit fails the run, naming the logger and line.
Tests' own loggers are not scanned: a test may well log its fixture data.
"""

from __future__ import annotations

import logging
import os

import pytest

# The loggers the app (and what serves it) writes to.
APP_LOGGERS = ("portal", "werkzeug", "sqlalchemy", "gunicorn", "alembic", "flask", "flask_migrate")
# Tables whose text is not health information, or not readable as such.
NOT_SCANNED = ("audit", "auth_sessions", "account_tokens", "mail_outbox", "login_throttles")


class ScanHandler(logging.Handler):
    keep_on_configure = True  # portal.logs.configure keeps it on the root logger

    def __init__(self) -> None:
        from portal.logs import TextFormatter

        super().__init__(logging.DEBUG)
        self.setFormatter(TextFormatter())
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in APP_LOGGERS:
            self.lines.append((record.name, self.format(record)))


HANDLER: ScanHandler | None = None


def pytest_configure(config) -> None:
    # The root logger stays at WARNING in tests, so test helpers' INFO chatter (the
    # SMTP server's) stays out of caplog; the app's own loggers are set below and
    # scanned at DEBUG whatever the root's level.
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def pytest_sessionstart(session) -> None:
    global HANDLER
    HANDLER = ScanHandler()
    logging.getLogger().addHandler(HANDLER)
    logging.getLogger("portal").setLevel(logging.DEBUG)
    logging.getLogger("werkzeug").setLevel(logging.INFO)  # its access log


def health_information() -> set[str]:
    """Every demo patient's name and every text of the demo clinic's records about patients."""
    from sqlalchemy import Enum, String, Text

    from portal import create_app
    from portal.demo import seed
    from portal.extensions import db

    app = create_app(
        {"PORTAL_ENV": "test", "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    found: set[str] = set()
    with app.app_context():
        db.create_all()
        seed()
        db.session.flush()
        for table in db.metadata.sorted_tables:
            if table.name.startswith(NOT_SCANNED):
                continue
            if "patient_id" not in table.c and table.name != "patients":
                continue
            columns = [
                c
                for c in table.c
                if isinstance(c.type, String | Text) and not isinstance(c.type, Enum)
            ]
            if not columns:
                continue
            for row in db.session.execute(table.select().with_only_columns(*columns)):
                # Free text has a space and some length; enum values, keys and ids do not.
                found.update(v.strip() for v in row if isinstance(v, str) and " " in v.strip())
        for given, family in db.session.execute(
            db.metadata.tables["patients"]
            .select()
            .with_only_columns(
                db.metadata.tables["patients"].c.given_name,
                db.metadata.tables["patients"].c.family_name,
            )
        ):
            found.update({f"{given} {family}", family})
        db.session.rollback()
    return {text for text in found if len(text) >= 5}


def leaks(lines: list[tuple[str, str]], secrets: set[str]) -> list[str]:
    """'logger: line (holds "text")' for each line holding any of `secrets`."""
    return [
        f'{name}: {line[:300]} (holds "{secret}")'
        for name, line in lines
        for secret in secrets
        if secret in line
    ]


def pytest_sessionfinish(session, exitstatus) -> None:
    if HANDLER is None or not HANDLER.lines:
        return
    found = leaks(HANDLER.lines, health_information())
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "health information in the app's logs:\n" + "\n".join(found[:50])
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
