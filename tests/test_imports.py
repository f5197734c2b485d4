"""What a web worker loads: libraries no request needs stay out of `import wsgi`.

Each costs every gunicorn worker its memory for as long as it runs (issue 10:
at most 100 MiB a worker; `benchmarks/memory.py` measures what each costs).
They are imported where they are used, so the first request that needs one
loads it; these tests fail when a module-level import brings one back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Library: what it costs a worker, and what needs it.
NOT_LOADED_BY_WORKERS = {
    "authlib": "8 MiB with requests and joserfc; clinician SSO only (portal.extensions.oauth)",
    "requests": "5 MiB; the push deliverer behind a proxy (flask notify deliver)",
    "pywebpush": "9 MiB; the push deliverer (flask notify deliver)",
    "http_ece": "the push deliverer's payload encryption",
    "segno": "1 MiB; the authenticator set-up page's QR code",
    "alembic": "11 MiB with Flask-Migrate; `flask db` and tests that migrate",
    "flask_migrate": "`flask db` only",
    "email_validator": "WTForms' Email() check, when a form with an address is posted",
    "py_vapid": "0.3 MiB; signs push tokens (the deliverer) and shows the public key",
    "cryptography.hazmat.primitives.asymmetric": (
        "0.4 MiB of key types; VAPID keys and push subscriptions' keys only"
    ),
}


PROBE = """
import json, sys, wsgi
from portal.api.blueprint import RequestBody, ResponseBody

def models(base):
    for sub in base.__subclasses__():
        yield sub
        yield from models(sub)

built = sorted(m.__name__ for b in (RequestBody, ResponseBody) for m in models(b)
               if m.__pydantic_complete__)
print(json.dumps([sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules)), built]))
"""


# Dates in every locale the portal offers, written the way pages write them, while
# an audit hook notes each of Babel's CLDR files the process opens.
CLDR_PROBE = """
import json, sys
opened = []

def note(event, args):
    if event == "open" and isinstance(args[0], str) and "babel" in args[0]:
        if args[0].endswith(".dat"):
            opened.append(args[0])

sys.addaudithook(note)
from datetime import UTC, datetime, timedelta
import wsgi
from portal import when

now = datetime.now(UTC)
written = []
for code in when.LOCALES:
    with wsgi.app.test_request_context(headers={"Accept-Language": code.replace("_", "-")}):
        written.append([str(when.user_locale()), when.format_when(now), when.clock(now),
                        when.ago(now - timedelta(hours=3), now),
                        when.format_day_month(now.date(), "weekday")])
print(json.dumps([opened, written]))
"""


def _import_wsgi(database_url: str, probe: str = PROBE) -> list:
    """After `import wsgi` in a fresh interpreter: the modules in sys.modules and their
    top-level packages, and the API models whose validators are built (or what `probe`
    prints)."""
    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('imports') / 'imports.db'}"
    )


@pytest.fixture(scope="module")
def started(database_url) -> list[list[str]]:
    return _import_wsgi(database_url)


@pytest.fixture(scope="module")
def loaded(started) -> set[str]:
    return set(started[0])


@pytest.mark.parametrize("library", sorted(NOT_LOADED_BY_WORKERS))
def test_a_web_worker_does_not_load(loaded, library):
    assert library not in loaded, (
        f"`import wsgi` loads {library} ({NOT_LOADED_BY_WORKERS[library]}):"
        " import it where it is used"
    )


def test_the_check_sees_what_a_worker_does_load(loaded):
    # The probe itself works: what every request needs is there.
    assert {"flask", "sqlalchemy", "portal", "pydantic", "cryptography"} <= loaded


def test_api_models_build_their_validators_when_first_used(started):
    # RequestBody and ResponseBody defer the build (portal/api/blueprint.py).
    assert started[1] == []
    from portal.api.goal_models import EntryInput

    assert EntryInput.model_validate_json('{"value": 3}').value == 3


def test_the_sso_registry_is_made_on_first_use_and_kept():
    from authlib.integrations.flask_client import OAuth

    from portal import extensions
    from portal.extensions import oauth

    assert isinstance(oauth, OAuth)
    assert extensions.oauth is oauth
    with pytest.raises(AttributeError):
        extensions.no_such_extension  # noqa: B018


def test_dates_are_written_without_loading_cldr_files(database_url):
    # Babel's own locale loading reads CLDR's root, en and global data: about 5 MiB a
    # worker for the few dozen strings a date needs. portal/when.py writes with Babel
    # from portal/locale_table.json instead; this fails if a date reaches Locale.parse.
    from portal.when import LOCALES

    opened, written = _import_wsgi(database_url, CLDR_PROBE)
    assert [text[0] for text in written] == list(LOCALES)
    assert all(all(text) for text in written)
    assert opened == [], f"a worker writing dates opened Babel's data files: {opened}"


# gunicorn.conf.py loads the app in the master and forks the workers from it, so
# what the app loaded is shared between them (most of a worker's memory).
POOL_PROBE = """
import json, wsgi
from portal.extensions import db
with wsgi.app.app_context():
    print(json.dumps([db.engine.pool.checkedin(), db.engine.pool.checkedout()]))
"""


def test_loading_the_app_opens_no_database_connection(database_url):
    # A connection made in the master would be inherited by every worker.
    assert _import_wsgi(database_url, POOL_PROBE) == [0, 0]


def test_the_deployments_gunicorn_preloads_the_app_and_freezes_it():
    import gc
    import runpy

    conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert conf["preload_app"] is True
    gc.unfreeze()
    try:
        conf["pre_fork"](None, None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_workers_forked_from_the_preloaded_app_serve(database_url, tmp_path):
    """Both workers forked from the preloaded app answer /healthz (which reads the database).

    Each answer's worker is named in gunicorn's access log (%(p)s, the pid of
    the process that served it): requests go four at a time until both have
    answered, and every one of them must be a 200.
    """
    import socket
    import time
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
    }
    access_log = tmp_path / "access.log"
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"]
    command += ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s %(U)s"]
    server = subprocess.Popen(
        [*command, "wsgi:app"],
        cwd=REPO,  # gunicorn reads ./gunicorn.conf.py; the flags above override its log line
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def health(_: int) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                return r.status
        except OSError:
            return None

    def served() -> dict[str, set[str]]:
        """Per worker pid, the statuses it answered /healthz with."""
        found: dict[str, set[str]] = {}
        if access_log.exists():
            for line in access_log.read_text().splitlines():
                pid, status, path = line.split()
                if path == "/healthz":
                    found.setdefault(pid.strip("<>"), set()).add(status)
        return found

    try:
        for _ in range(600):  # until it answers; give up after about a minute
            if health(0) == 200 or server.poll() is not None:
                break
            time.sleep(0.1)
        # The master forks its workers one after the other: the first may answer
        # everything before the second exists (a busy machine, CI beside PostgreSQL).
        with ThreadPoolExecutor(4) as pool:
            for _ in range(300):
                if len(served()) == 2 or server.poll() is not None:
                    break
                assert list(pool.map(health, range(4))) == [200] * 4
                time.sleep(0.1)
        assert server.poll() is None, server.stderr.read().decode()
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert sorted(served()) == sorted(children)
        assert len(children) == 2
        assert all(statuses == {"200"} for statuses in served().values())
    finally:
        server.terminate()
        server.communicate(timeout=30)
