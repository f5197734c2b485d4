"""The portal (or another app) wrapped to count one request's SQL statements (bench only).

`benchmarks/run.py` serves `benchmarks.counting_app:app` under gunicorn instead of
`wsgi:app`. A request carrying the header `X-Bench-Count-Queries: 1` gets back
`X-Bench-Queries: N`, the statements its worker sent to the database while
answering it (SQLAlchemy's `before_cursor_execute`, as tests/conftest.py's
`count_queries` counts them: an executemany is one statement). The listener is
attached for that request only, so the measured wrk load runs exactly the
unwrapped app's code.

BENCH_APP ("module:attribute", default "wsgi:app") names the app to wrap, e.g.
`benchmarks.floor_app:app` for `run.py --floors`. Never part of the portal.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event

from portal.extensions import db

COUNT_HEADER = "HTTP_X_BENCH_COUNT_QUERIES"
RESULT_HEADER = "X-Bench-Queries"


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or "app")


class QueryCounter:
    """WSGI middleware: count the statements of requests that ask for it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._engine = None

    def engine(self):
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get(COUNT_HEADER) != "1":
            return self.app(environ, start_response)
        statements = 0

        def before(*_args: object) -> None:
            nonlocal statements
            statements += 1

        # start_response is held back until the app has returned: Flask commits
        # and tears down after calling it, and those statements count too.
        held: list[tuple[str, list, Any]] = []

        def hold(status: str, headers: list, exc_info: Any = None) -> Callable:
            held.append((status, list(headers), exc_info))
            return lambda _data: None  # Flask never uses write()

        engine = self.engine()
        event.listen(engine, "before_cursor_execute", before)
        try:
            body = self.app(environ, hold)
            chunks = list(body)  # a streamed body could still query while iterating
            if hasattr(body, "close"):
                body.close()
        finally:
            event.remove(engine, "before_cursor_execute", before)
        status, headers, exc_info = held[-1]
        headers.append((RESULT_HEADER, str(statements)))
        start_response(status, headers, exc_info)
        return chunks


app = QueryCounter(_load(os.environ.get("BENCH_APP", "wsgi:app")))
