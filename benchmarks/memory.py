"""How much memory a portal web worker holds, and what it is made of.

Run: `python benchmarks/memory.py [--db sqlite|postgres|both] [--requests 200]
[--trace]` (see docs/benchmarks.md, "Memory per worker"). Three parts:

1. **Imports.** In fresh processes: what importing each library the portal
   loads adds to the resident set (in a fixed order, so a library shared by
   two is counted at the first), which of them `import wsgi` loads, and what
   `import wsgi` allocates grouped by package (tracemalloc: Python objects
   only; shared libraries and C allocations show in the RSS figures alone).
2. **Workers.** Per database, as `make bench` runs the portal: a fresh
   database with `flask db upgrade`, `flask seed-demo` and the 200-patient
   panel, gunicorn with sync workers serving `wsgi:app` (wrapped by
   `benchmarks/memory_app.py`, which answers only requests asking for a
   memory report). It signs in the patient, the caregiver, the clinician
   (with her TOTP code) and the panel's writers exactly as `benchmarks/run.py`
   does, then sends each of its scenarios `--requests` times, in its order
   (plan pages, goal pages, entry POSTs, inbox), then as often again with the
   pages and POSTs interleaved (each POST makes the next view of its pages a
   new kept page, which fills the page cache as a day's use would). Each
   worker's VmRSS and cache sizes are printed after start, after the bench's
   order and after the mixed load. With `--trace` the same load runs again
   under tracemalloc and each worker prints what grew while serving, by package.
3. **Floors.** Workers of `benchmarks/bare_app.py` (Flask alone) and
   `benchmarks/memory_floor.py` (Flask, Flask-SQLAlchemy, Flask-Login,
   Flask-WTF, the database driver, one query) under the same gunicorn.

Numbers are MiB (2^20 bytes), as harness.py reports them. Never run by tests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import databases
import harness
import run
from harness import Scenario

REPO_ROOT = Path(__file__).resolve().parent.parent

# Libraries in the order a worker meets them; `wsgi` last stands for the
# portal's own modules (models, routes, templates' helpers, API schemas).
IMPORTS = (
    "flask",
    "sqlalchemy",
    "flask_sqlalchemy",
    "flask_login",
    "flask_wtf.csrf",
    "wtforms",
    "email_validator",
    "pydantic",
    "babel.dates",
    "pyotp",
    "segno",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "py_vapid",
    "http_ece",
    "requests",
    "pywebpush",
    "authlib.integrations.flask_client",
    "psycopg",
    "gunicorn.workers.sync",
    "wsgi",
)

_IMPORT_PROBE = """
import importlib, json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
rows = [("python itself", rss(), len(sys.modules))]
for name in sys.argv[1:]:
    before, mods = rss(), len(sys.modules)
    importlib.import_module(name)
    rows.append((name, rss() - before, len(sys.modules) - mods))
print(json.dumps(rows))
"""

_WSGI_PROBE = """
import json, sys, tracemalloc
sys.path.insert(0, 'benchmarks')
tracemalloc.start()
import wsgi
from memory_app import by_package, rss_mib
snap = tracemalloc.take_snapshot()
stats = snap.statistics('filename')
loaded = sorted({m.split('.')[0] for m in sys.modules})
print(json.dumps({'packages': by_package((s.traceback[0].filename, s.size) for s in stats),
                  'traced': tracemalloc.get_traced_memory()[0], 'loaded': loaded}))
"""


def python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """stdout of `python -c code args` in the repo, in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise harness.BenchmarkError(proc.stderr[-2000:])
    return proc.stdout


def measure_imports(env: dict[str, str]) -> None:
    print("== Imports (fresh processes; MiB of VmRSS each import adds, in this order)")
    rows = json.loads(python(_IMPORT_PROBE, *IMPORTS, env=env))
    traced = json.loads(python(_WSGI_PROBE, env=env))
    loaded = set(traced["loaded"])
    total = 0.0
    for name, mib, modules in rows:
        total += mib
        top = name.split(".")[0]
        mark = "" if name == "python itself" or top in loaded else "   (not loaded by wsgi)"
        print(f"  {name:46s} {mib:6.1f}  {modules:4d} modules  total {total:6.1f}{mark}")
    alone = json.loads(python(_IMPORT_PROBE, "wsgi", env=env))
    print(f"  `import wsgi` alone: {sum(r[1] for r in alone):.1f} MiB, {alone[1][2]} modules")
    print(
        f"  `import wsgi` under tracemalloc: {traced['traced'] / 2**20:.1f} MiB of Python objects:"
    )
    for package, size in list(traced["packages"].items())[:16]:
        print(f"    {package:40s} {size / 2**20:6.2f}")


def _report(server: harness.GunicornServer, ask: str = "1") -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    try:
        conn.request("GET", "/", headers={"X-Bench-Memory": ask})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def reports(server: harness.GunicornServer, tries: int = 20, ask: str = "1") -> dict[int, dict]:
    """The memory report of every worker: asked as many at a time as there are
    workers (each holds its request a moment), until each one has answered."""
    found: dict[int, dict] = {}
    with ThreadPoolExecutor(server.workers) as pool:
        for _ in range(tries):
            for answer in pool.map(lambda _n: _report(server, ask), range(server.workers)):
                found[answer["pid"]] = answer
            if len(found) >= server.workers:
                break
    return found


def print_reports(title: str, found: dict[int, dict], trace: bool = False) -> None:
    print(f"  {title}:")
    for pid, r in sorted(found.items()):
        caches = ", ".join(f"{k} {v}" for k, v in r["caches"].items())
        trim = r.get("rss_mib after malloc_trim")
        after = f" ({trim:.1f} after malloc_trim)" if trim else ""
        roll = r.get("smaps_rollup_mib", {})
        shares = ", ".join(f"{k.upper()} {v:.1f}" for k, v in roll.items() if k != "rss")
        print(
            f"    worker {pid}: {r['rss_mib']:.1f} MiB{after} ({shares}), {r['modules']} modules;"
            f" {caches}"
        )
        if trace and "grown since load, KiB" in r:
            grown = list(r["grown since load, KiB"].items())[:12]
            print("      grown since load (KiB): " + ", ".join(f"{k} {v}" for k, v in grown))


def send(server: harness.GunicornServer, scenario: Scenario, n: int) -> int:
    one = scenario.sample(n)
    resp = harness._raw_request(server, one)
    if one.expect_status is not None and resp.status != one.expect_status:
        raise harness.BenchmarkError(
            f"{one.method} {one.path} answered {resp.status}, not {one.expect_status}"
        )
    return resp.status


def load(server: harness.GunicornServer, jobs: list[tuple[Scenario, int]]) -> None:
    """Send every (scenario, n) over 4 connections at a time (so both workers serve)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda job: send(server, *job), jobs))


def measure_workers(kind: str, args: argparse.Namespace) -> None:
    print(f"\n== Workers on {kind} (gunicorn -w {args.workers} -k sync wsgi:app)")
    with databases.database_url(kind) as url:
        env = databases.portal_env(url)
        databases.seed_demo(env, run.PANEL_SIZE, args.writers)
        passes = [False, True] if args.trace else [False]
        for trace in passes:
            # Comparing snapshots takes a traced worker longer than gunicorn's 30 s.
            traced = {"PYTHONTRACEMALLOC": "1", "GUNICORN_CMD_ARGS": "--timeout 600"}
            serve_env = {**env, **traced} if trace else env
            with harness.GunicornServer(
                "benchmarks.memory_app:app", serve_env, workers=args.workers
            ) as server:
                if trace:
                    print("  -- again under tracemalloc (its RSS is not the worker's) --")
                print_reports("after start", reports(server))
                scenarios = run.portal_scenarios(server, args.writers)
                print_reports("after signing in", reports(server))
                n = args.requests
                ordered = [(s, i) for s in scenarios for i in range(n)]
                load(server, ordered)
                print_reports(
                    f"after {len(ordered)} requests in the bench's order", reports(server), trace
                )
                gets = [s for s in scenarios if s.method == "GET"]
                posts = [s for s in scenarios if s.method == "POST"]
                mixed = [(s, 10_000 + i) for i in range(n) for s in (*gets, posts[i % len(posts)])]
                load(server, mixed)
                print_reports(
                    f"after {len(mixed)} more, pages and POSTs interleaved",
                    reports(server, ask="trim"),
                    trace,
                )
        with_floor(env, args)


def with_floor(env: dict[str, str], args: argparse.Namespace) -> None:
    for app in ("benchmarks.bare_app:app", "benchmarks.memory_floor:app"):
        with harness.GunicornServer(app, env, workers=args.workers) as server:
            for _ in range(50):
                harness._raw_request(server, Scenario(app, "/"))
            rss = ", ".join(f"{m:.1f}" for m in server.worker_rss_mb())
            print(f"  floor {app}: {rss} MiB per worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=200, help="per scenario (default 200)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=run.WRITERS)
    parser.add_argument("--trace", action="store_true", help="also run the load under tracemalloc")
    parser.add_argument("--no-imports", action="store_true", help="skip part 1")
    args = parser.parse_args(argv)
    if not args.no_imports:
        measure_imports({"PORTAL_ENV": "development", "DATABASE_URL": "sqlite://"})
    for kind in databases.DATABASES if args.db == "both" else (args.db,):
        measure_workers(kind, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
