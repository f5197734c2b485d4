"""Benchmark the portal's key pages against a bare Flask app.

Run with `make bench` (or `.venv/bin/python benchmarks/run.py --help`). The
portal runs under gunicorn on a fresh SQLite database seeded with the demo data.
Results are reported against targets; the exit code is 0 whatever they show
(benchmarks report, they don't gate), unless --strict is given and a benchmark
could not run.

To add a scenario, append a harness.Scenario to the list `portal_scenarios`
returns (use `patient.cookie_header()` / `clinician.cookie_header()` for
signed-in pages, harness.find_csrf_token() for a POST's X-CSRFToken header).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
from harness import Scenario

REPO_ROOT = Path(__file__).resolve().parent.parent

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - public demo seed
PATIENT_EMAIL = "alex@example.com"
CLINICIAN_EMAIL = "rivera@example.com"

# Set these once the URLs are settled (e.g. "/plan"); None: discover them by
# following GET / after sign-in to the user's home and taking its first link
# whose href or text matches PLAN_LINK_PATTERN (falling back to the home page).
# As first wired: the patient lands on /p/1/ and gets /p/1/plan; the clinician
# lands on /clinic/ and gets the first patient's /p/<id>/plan.
PATIENT_PLAN_PATH: str | None = None
CLINICIAN_PLAN_PATH: str | None = None
PLAN_LINK_PATTERN = r"/plan(?:$|[/?#])"

PLAN_TARGET_RATIO = 0.20
GOAL_PAGE_TARGET_RATIO = 0.15
POST_ENTRY_TARGET_RATIO = 0.30
INBOX_TARGET_RATIO = 0.12
PANEL_SIZE = 200

# Each POST needs its own Idempotency-Key, or the server just replays the first
# entry: every wrk thread numbers its requests under a thread-unique prefix.
UNIQUE_KEY_LUA = """
local counter = 0
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", tid or 0, os.time(), counter)
  return wrk.format()
end
"""


def discover(client: harness.Client, explicit: str | None, pattern: str = PLAN_LINK_PATTERN) -> str:
    """`explicit` if set, else the first matching link on the signed-in home page."""
    if explicit:
        return explicit
    home = client.get("/")
    if home.status != 200:
        raise harness.BenchmarkError(f"GET / after sign-in ended on {home.url} ({home.status})")
    return harness.find_link(home.text, pattern, base_url=home.url) or harness.path_of(home.url)


def portal_scenarios(server: harness.GunicornServer) -> list[Scenario]:
    """Scenarios for the portal; called once the server answers."""
    patient = harness.login_client(server.base_url, PATIENT_EMAIL, DEMO_PASSWORD)
    clinician = harness.login_client(server.base_url, CLINICIAN_EMAIL, DEMO_PASSWORD)
    goal_page = harness.find_link(patient.get("/").text, r"/goals/\d+$") or ""
    goal_api = (
        "/api/v1/patients/" + goal_page.split("/")[2] + "/goals/" + goal_page.rsplit("/", 1)[1]
    )
    csrf = harness.find_csrf_token(patient.get(goal_page).text)
    return [
        Scenario(
            "patient plan page",
            discover(patient, PATIENT_PLAN_PATH),
            cookie=patient.cookie_header(),
            target_ratio=PLAN_TARGET_RATIO,
        ),
        Scenario(
            "clinician plan view",
            discover(clinician, CLINICIAN_PLAN_PATH),
            cookie=clinician.cookie_header(),
            target_ratio=PLAN_TARGET_RATIO,
        ),
        Scenario(
            "goal page (chart + thread)",
            goal_page,
            cookie=patient.cookie_header(),
            target_ratio=GOAL_PAGE_TARGET_RATIO,
        ),
        Scenario(
            "post an entry (API)",
            goal_api + "/entries",
            method="POST",
            body='{"value": 20, "note": "bench walk"}',
            headers={"Content-Type": "application/json", "X-CSRFToken": csrf},
            cookie=patient.cookie_header(),
            target_ratio=POST_ENTRY_TARGET_RATIO,
            expect_status=None,  # the preflight would need its own key; wrk's first request checks
            lua=UNIQUE_KEY_LUA,
        ),
        Scenario(
            f"clinician inbox ({PANEL_SIZE}-patient panel)",
            "/clinic/inbox",
            cookie=clinician.cookie_header(),
            target_ratio=INBOX_TARGET_RATIO,
        ),
    ]


def floor_scenarios(portal: list[Scenario]) -> list[Scenario]:
    """The measuring routes of `benchmarks/floor_app.py`, signed in like the real pages."""
    post = next(s for s in portal if s.method == "POST")
    inbox = next(s for s in portal if s.path == "/clinic/inbox")
    patient_id = post.path.split("/")[4]  # /api/v1/patients/<id>/goals/<goal>/entries
    as_post = {"method": "POST", "body": post.body, "headers": post.headers, "cookie": post.cookie}
    return [
        Scenario(
            "floor: patient JSON POST, no write",
            f"/floor/p/{patient_id}/post",
            target_ratio=POST_ENTRY_TARGET_RATIO,
            **as_post,
        ),
        Scenario(
            "floor: the same + its audit row",
            f"/floor/p/{patient_id}/post-audited",
            target_ratio=POST_ENTRY_TARGET_RATIO,
            **as_post,
        ),
        Scenario(
            f"floor: inbox ({PANEL_SIZE}) without audit rows",
            "/floor/inbox-unaudited",
            cookie=inbox.cookie,
            target_ratio=INBOX_TARGET_RATIO,
        ),
    ]


def flask(env: dict[str, str], *args: str) -> None:
    """`flask --app wsgi ARGS` in the benchmark environment; raise with its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise harness.BenchmarkError(
            f"flask {' '.join(args)} exited with {proc.returncode}:\n" + "\n".join(output)
        )


def run_portal(
    env: dict[str, str], args: argparse.Namespace, settings: harness.Settings, bare_url: str
) -> list[harness.ScenarioResult]:
    """Set up the portal's database and benchmark its scenarios, paired with `bare_url`."""
    app = "benchmarks.floor_app:app" if args.floors else "wsgi:app"
    print(f"portal ({app})")
    try:
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        seed = subprocess.run(
            [sys.executable, str(REPO_ROOT / "benchmarks" / "seed_panel.py"), str(PANEL_SIZE)],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if seed.returncode != 0:
            raise harness.BenchmarkError("seed_panel.py failed:\n" + seed.stderr[-2000:])

        def scenarios(server: harness.GunicornServer) -> list[Scenario]:
            portal = portal_scenarios(server)
            if args.floors:
                portal = [s for s in portal if s.method == "POST" or s.path == "/clinic/inbox"]
                portal += floor_scenarios(portal)
            return [s for s in portal if args.only in s.name]

        return harness.run_scenarios(
            app, scenarios, env=env, settings=settings, baseline_url=bare_url
        )
    except (harness.BenchmarkError, subprocess.TimeoutExpired) as exc:
        result = harness.ScenarioResult(Scenario("portal setup", "/"), app)
        result.error = str(exc)
        return [result]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = harness.Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=defaults.duration, help="s per round")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="s of warm-up")
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument(
        "--only", default="", help="run only the portal scenarios whose name contains this"
    )
    parser.add_argument(
        "--floors",
        action="store_true",
        help="measure the entry POST and inbox next to what their mandatory parts alone cost"
        " (benchmarks/floor_app.py)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a benchmark could not run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = harness.Settings(
        duration=args.duration,
        warmup=args.warmup,
        rounds=args.rounds,
        threads=args.threads,
        connections=args.connections,
        workers=args.workers,
    )
    with tempfile.TemporaryDirectory(prefix="carecircle-bench-") as tmp:
        env = {
            "PORTAL_ENV": "development",
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "SECRET_KEY": secrets.token_hex(32),
        }

        # The bare app runs alongside the portal, and each portal round is paired
        # with a bare round run just before it: ratios compare like with like
        # even when the machine's speed drifts during the run.
        print("bare Flask app (baseline, one round before each portal round)")
        bare_scenario = Scenario("bare Flask app", "/")
        bare = harness.ScenarioResult(bare_scenario, "benchmarks.bare_app:app")
        try:
            with harness.GunicornServer(
                "benchmarks.bare_app:app",
                workers=settings.workers,
                startup_timeout=settings.startup_timeout,
            ) as bare_server:
                harness.preflight(bare_server, bare_scenario)
                bare_url = bare_server.base_url + "/"
                if settings.warmup > 0:
                    harness.run_wrk(bare_url, settings, settings.warmup)
                results = run_portal(env, args, settings, bare_url)
                bare.worker_rss_mb = bare_server.worker_rss_mb()
        except harness.BenchmarkError as exc:
            bare.error = str(exc)
            results = []
        bare.rounds = [b for r in results for b in r.baseline_rounds]

    print()
    failed = harness.print_report(bare, results, settings)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
