"""The databases a benchmark runs on: a fresh SQLite file, a throwaway PostgreSQL cluster.

PostgreSQL is started exactly as the tests start theirs: `scripts/with-postgres.sh`
runs a command that prints the database URL and waits; closing its stdin ends
the command, and the script stops the cluster and deletes its files (also on
Ctrl-C, which reaches it through the shared process group). Its settings are the
tests' (fsync and synchronous_commit off: a crash only loses throwaway data);
SQLite runs as the app configures it (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness import BenchmarkError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATABASES = ("sqlite", "postgres")


@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    """A SQLite file in a temp dir, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="carecircle-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextlib.contextmanager
def postgres_url(startup_timeout: float = 120.0) -> Iterator[str]:
    """A fresh PostgreSQL database from scripts/with-postgres.sh, for as long as the block runs."""
    proc = subprocess.Popen(
        ["bash", str(REPO_ROOT / "scripts" / "with-postgres.sh"), "sh", "-c", "cat >/dev/null"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _read_url(proc, startup_timeout)
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # `cat` ends, the script stops the cluster
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)


def _read_url(proc: subprocess.Popen[str], timeout: float) -> str:
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("with-postgres: TEST_DATABASE_URL="):
                found.append(line.split("=", 1)[1].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        proc.poll()
        err = proc.stderr.read() if proc.returncode is not None and proc.stderr else ""
        raise BenchmarkError(f"scripts/with-postgres.sh gave no database URL:\n{err[-2000:]}")
    return found[0]


@contextlib.contextmanager
def database_url(kind: str) -> Iterator[str]:
    """The URL of a fresh, empty database of `kind` ("sqlite" or "postgres")."""
    with sqlite_url() if kind == "sqlite" else postgres_url() as url:
        yield url


def portal_env(url: str) -> dict[str, str]:
    """The environment a benchmarked portal (and its seeding) runs with, on `url`."""
    return {
        "PORTAL_ENV": "development",
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(32),
        # Signing in is not measured; the production KDF would only slow setup.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }


def run_python(env: dict[str, str], *args: str, timeout: float = 900) -> float:
    """`python ARGS` in the benchmark's environment; seconds taken. Raise with its output."""
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"{' '.join(args)} took over {timeout:.0f} s") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise BenchmarkError(
            f"{' '.join(args)} exited with {proc.returncode}:\n" + "\n".join(output)
        )
    return time.monotonic() - started


@contextlib.contextmanager
def deliverer(env: dict[str, str], interval: float = 1.0) -> Iterator[None]:
    """The notification deliverer's loop beside the portal, as a deployment runs it.

    Besides sending pushes it indexes the audit trail's list views for the
    patients' access logs (portal/audit/listed.py): work taken out of the
    inbox's requests, so the bench pays for it here, on the same cores.
    """
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "wsgi",
                "notify",
                "deliver",
                "--loop",
                "--interval",
                str(interval),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -15):
                log.seek(0)
                output = log.read().decode(errors="replace").strip().splitlines()[-20:]
                raise BenchmarkError(
                    f"the deliverer loop exited with {proc.returncode}:\n" + "\n".join(output)
                )


def seed_demo(env: dict[str, str], panel: int, writers: int) -> None:
    """Schema, demo clinic, then Dr. Rivera's panel with `writers` patients who sign in."""
    run_python(env, "-m", "flask", "--app", "wsgi", "db", "upgrade")
    run_python(env, "-m", "flask", "--app", "wsgi", "seed-demo")
    run_python(env, "benchmarks/seed_panel.py", str(panel), str(writers))


def seed_large(env: dict[str, str], patients: int, entries: int) -> float:
    """Grow the seeded clinic (benchmarks/seed_large.py); seconds taken."""
    return run_python(env, "benchmarks/seed_large.py", str(patients), str(entries))
