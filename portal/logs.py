"""Logging: one line per event, with time and level, as text or JSON, and no health information.

Configured once with `logging.config.dictConfig` from the settings `LOG_LEVEL`
and `LOG_FORMAT` (`text`, the default, or `json`: one JSON object a line for a
log collector). What a person typed never reaches a log line:

- query strings are cut from every URL in a message (`/clinic/?q=Alex+Morgan`
  becomes `/clinic/?…`): the werkzeug access log, and anything else that logs
  a URL; gunicorn's access log is set the same way in gunicorn.conf.py;
- an exception's message is withheld (its type and the stack stay): messages
  like "invalid literal for int(): 'Alex Morgan'" or a database error quote
  input. SQLAlchemy's `hide_parameters` already keeps values out of its errors.

Redaction is in the formatters, so every handler that uses them (the console,
the test suite's log scan) writes the same redacted line.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import traceback
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
# A URL's query string in a message: a path, then "?" up to the next space or quote.
_QUERY = re.compile(r"(/[^\s?\"'<>]*)\?[^\s\"'<>]+")
WITHHELD = "(message withheld: it may quote what a person typed)"


def redact(text: str) -> str:
    """A log message with every URL's query string cut."""
    return _QUERY.sub(r"\1?…", text)


def redacted_traceback(exc_info) -> str:
    """The stack of an exception and each it was raised from, with their messages withheld."""
    parts = []
    seen: set[int] = set()
    te: traceback.TracebackException | None = traceback.TracebackException(*exc_info)
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        name = f"{te.exc_type.__module__}.{te.exc_type.__qualname__}" if te.exc_type else "?"
        stack = "".join(te.stack.format())
        parts.append(f"Traceback (most recent call last):\n{stack}{name}: {WITHHELD}")
        te = te.__cause__ or (None if te.__suppress_context__ else te.__context__)
    return "\n-- which happened while handling --\n".join(reversed(parts))


class TextFormatter(logging.Formatter):
    """`2026-12-02T03:04:05.678Z INFO portal.web: message`, a traceback folded onto the line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _when(record)

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_when(record)} {record.levelname} {record.name}: {redact(record.getMessage())}"
        if record.exc_info:
            line += " | " + redacted_traceback(record.exc_info)
        if record.stack_info:
            line += " | " + record.stack_info
        return line.replace("\r", "\\r").replace("\n", " | ")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": _when(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            event["exception"] = redacted_traceback(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def _when(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def config(level: str, fmt: str) -> dict[str, Any]:
    """The dictConfig for the portal: one console handler on the root logger."""
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {fmt!r}")
    quiet = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": TextFormatter},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": fmt,
            }
        },
        "root": {"level": level.upper(), "handlers": ["console"]},
        "loggers": {
            # Alembic names each of its plugins at INFO whenever it is imported,
            # which is every `flask` command: seven lines of nothing.
            "alembic.runtime.plugins": quiet,
            # Statements are logged only when someone asks for them by name.
            "sqlalchemy.engine": quiet,
        },
    }


def configure(level: str, fmt: str) -> None:
    """Apply the portal's logging; handlers marked `keep_on_configure` (the tests' scan) stay."""
    root = logging.getLogger()
    kept = [h for h in root.handlers if getattr(h, "keep_on_configure", False)]
    logging.config.dictConfig(config(level, fmt))
    for handler in kept:
        root.addHandler(handler)
