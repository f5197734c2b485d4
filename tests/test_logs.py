"""Logs: one line per event with time and level, text or JSON, and no health information."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import logs
from tests import logscan

ROOT = Path(__file__).resolve().parent.parent
# Names built at run time, so that the traceback's source lines do not quote them.
ALEX, BLAKE = " ".join(("Alex", "Morgan")), " ".join(("Blake", "Ortiz"))


@contextmanager
def captured(fmt: str = "text"):
    """What the portal's console handler would write, with its formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter() if fmt == "json" else logs.TextFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def _boom(text: str) -> None:
    int(text)  # ValueError: invalid literal for int() with base 10: '<text>'


def test_a_line_has_time_level_and_logger_and_stays_one_line():
    log = logging.getLogger("checks.logs")
    with captured() as out:
        try:
            _boom(ALEX)
        except ValueError:
            log.exception("could not read\nthe value")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line[:4].isdigit() and "T" in line[:11] and line[23] == "Z"
    assert " ERROR checks.logs: could not read | the value | Traceback" in line
    assert "_boom" in line and "builtins.ValueError" in line
    assert "Alex Morgan" not in line and logs.WITHHELD in line


def test_json_lines_are_objects_with_the_exception_withheld():
    log = logging.getLogger("checks.logs")
    with captured("json") as out:
        log.warning("opened /clinic/?q=Alex+Morgan&sort=name")
        try:
            try:
                _boom(BLAKE)
            except ValueError as error:
                raise RuntimeError(f"wrapped {error}") from error
        except RuntimeError:
            log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "checks.logs"
    assert first["message"] == "opened /clinic/?…" and first["time"].endswith("Z")
    assert "Blake" not in second["exception"] and "RuntimeError" in second["exception"]
    assert "ValueError" in second["exception"]  # the cause's stack stays


def test_query_strings_are_cut_from_any_url_in_a_message():
    assert (
        logs.redact('"GET /clinic/?q=Alex+Morgan HTTP/1.1" 200') == '"GET /clinic/?… HTTP/1.1" 200'
    )
    assert logs.redact("http://x.example/p/1?next=/a%0d%0a ok") == "http://x.example/p/1?… ok"
    assert logs.redact("Is it done? Yes") == "Is it done? Yes"  # a question is not a URL


def test_the_access_log_of_a_real_server_holds_no_search(demo):
    """Werkzeug's own request log, over HTTP on loopback, signed in as Dr. Rivera."""
    rivera = demo.login("rivera@example.com")
    cookie = rivera.get_cookie(demo.app.config["SESSION_COOKIE_NAME"])
    server = make_server("127.0.0.1", 0, demo.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.INFO)  # its access log on, whatever earlier tests quietened
    try:
        with captured() as out:
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.server_port}/clinic/?q=Alex+Morgan",
                headers={"Cookie": f"{cookie.key}={cookie.value}", "Host": "localhost"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                assert "Alex Morgan" in response.read().decode()
    finally:
        werkzeug_log.setLevel(level)
        server.shutdown()
        thread.join(5)
    access = [line for line in out.getvalue().splitlines() if " werkzeug: " in line]
    assert access and "GET /clinic/?… HTTP/1.1" in access[0]
    assert "Alex" not in out.getvalue()


def test_an_unexpected_error_is_logged_without_what_was_typed(demo, monkeypatch):
    """A 500 logs where it happened, not the words that caused it."""
    from portal.goals import threads

    def broken(access, goal_id, body):
        raise ValueError(f"cannot store {body!r}")

    monkeypatch.setattr(threads, "post_message", broken)
    from tests.routes_goals import walk

    alex = demo.login("alex@example.com")
    with captured() as out:
        response = alex.submit(
            f"/p/{demo.alex}/goals/{walk(demo)}/messages", {"body": "my knee pain is back"}
        )
    assert response.status_code == 500
    written = out.getvalue()
    assert "unhandled ValueError on POST goals.post_message" in written
    assert "knee" not in written and logs.WITHHELD in written


def test_flask_commands_do_not_print_alembics_plugin_lines(tmp_path):
    env = {
        **os.environ,
        "PORTAL_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "SECRET_KEY": "k" * 40,
        "LOG_LEVEL": "INFO",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "routes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "alembic" not in done.stderr and "setup plugin" not in done.stderr


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.config("INFO", "xml")


def test_the_scan_finds_a_leak_and_names_the_logger():
    """The suite-wide scan (tests/logscan.py) can fail: a line with a demo text is caught."""
    secrets = logscan.health_information()
    assert "Alex Morgan" in secrets and "Morgan" in secrets
    assert any("walk" in s.lower() for s in secrets)  # a demo goal's title
    lines = [("portal.x", "2026-12-02T00:00:00.000Z INFO portal.x: saw Alex Morgan")]
    found = logscan.leaks(lines, secrets)
    assert found and all(f.startswith("portal.x: ") for f in found)
    assert any('(holds "Alex Morgan")' in f for f in found)
