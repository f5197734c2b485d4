"""Benchmark the portal's key pages against a bare Flask app, on SQLite and PostgreSQL.

Run with `make bench` (or `.venv/bin/python benchmarks/run.py --help`). For each
database (`--db sqlite|postgres|both`, default both) the portal runs under
gunicorn on a fresh database seeded with the demo clinic and a 200-patient
panel; PostgreSQL is a throwaway cluster started like the tests' one
(scripts/with-postgres.sh). With `--large` the same database then grows to
10,000 more patients and 1,000,000 progress entries and every scenario is
measured again. Every scenario also reports how many SQL statements a single
request runs (benchmarks/counting_app.py), so a count that grows with the data
shows up side by side.

Results are reported against targets; the exit code is 0 whatever they show
(benchmarks report, they don't gate), unless --strict is given and a benchmark
could not run.

To add a scenario, append a harness.Scenario to the list `portal_scenarios`
returns (use `patient.cookie_header()` / `clinician.cookie_header()` /
`caregiver.cookie_header()` for signed-in pages, harness.find_csrf_token() for a
POST's X-CSRFToken header). Staff accounts sign in with a TOTP code
(`login_client(..., totp_secret=CLINICIAN_TOTP_SECRET)`). The same page for
another viewer names the first one in `same_as`: the report then says whether
it holds up to it.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import databases
import harness
import report
from harness import Scenario

REPO_ROOT = Path(__file__).resolve().parent.parent

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - public demo seed
# Demo clinicians sign in with a code from this authenticator secret
# (portal/auth/demo.py, DESIGN.md): the benchmark computes it as their app would.
CLINICIAN_TOTP_SECRET = "JBSWY3DPEHPK3PXP"  # noqa: S105 - public demo seed
PATIENT_EMAIL = "alex@example.com"
CLINICIAN_EMAIL = "rivera@example.com"
# Sam Morgan's demo grant for Alex: plan, goals, logging, messages; no sensitive items.
CAREGIVER_EMAIL = "sam@example.com"

# Set these once the URLs are settled (e.g. "/plan"); None: discover them by
# following GET / after sign-in to the user's home and taking its first link
# whose href or text matches PLAN_LINK_PATTERN (falling back to the home page).
# As first wired: the patient lands on /p/1/ and gets /p/1/plan; the clinician
# lands on /clinic/ and gets the first patient's /p/<id>/plan.
PATIENT_PLAN_PATH: str | None = None
CLINICIAN_PLAN_PATH: str | None = None
PLAN_LINK_PATTERN = r"/plan(?:$|[/?#])"
GOAL_LINK_PATTERN = r"/goals/\d+$"

PLAN_TARGET_RATIO = 0.20
GOAL_PAGE_TARGET_RATIO = 0.15
POST_ENTRY_TARGET_RATIO = 0.16  # spread over many patients (issue 10: 2/3 of its floor)
INBOX_TARGET_RATIO = 0.12
PANEL_SIZE = 200
WRITERS = 30  # patients the spread entry POST signs in as, each on their own goal
BACKDATE_DAYS = 28  # entries spread over this many past days (the app allows 30)
LARGE_PATIENTS = 10_000
LARGE_ENTRIES = 1_000_000

ENTRY_BODY = '{{"value": 20, "note": "bench walk", "entry_date": "{day}"}}'

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

# As a clinic posts: request n goes to writer n (mod writers), each signed in as
# themselves on their own goal, on a day that moves back one every round of
# writers, with a fresh idempotency key.
SPREAD_LUA = """
local counter = 0
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
function request()
  counter = counter + 1
  local t = tid or 0
  local w = writers[(counter + t * 7) % #writers + 1]
  local day = days[math.floor(counter / #writers) % #days + 1]
  local headers = {
    ["Cookie"] = w[2],
    ["X-CSRFToken"] = w[3],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("spread-%d-%d-%d", t, os.time(), counter),
  }
  return wrk.format("POST", w[1], headers, string.format(body, day))
end
"""


def discover(client: harness.Client, explicit: str | None, pattern: str = PLAN_LINK_PATTERN) -> str:
    """`explicit` if set, else the first matching link on the signed-in home page."""
    if explicit:
        return explicit
    home = client.get("/")
    if home.status != 200 or harness.path_of(home.url).startswith("/login"):
        # Benchmarking the sign-in page instead would "pass" at 0 statements.
        raise harness.BenchmarkError(f"GET / after sign-in ended on {home.url} ({home.status})")
    return harness.find_link(home.text, pattern, base_url=home.url) or harness.path_of(home.url)


def caregiver_pages(caregiver: harness.Client, plan_page: str, goal_page: str) -> None:
    """Check that the caregiver's home offers the patient whose pages the patient reads.

    The caregiver scenarios load exactly the patient's URLs (so the two rows
    compare one page for two viewers); each one's preflight then checks the
    grant lets the caregiver see it (200, not a 403 or 404).
    """
    patient_id = plan_page.strip("/").split("/")[1]  # /p/<id>/plan
    home = caregiver.get("/")
    if home.status != 200 or not harness.find_link(home.text, rf"/p/{patient_id}(?:[/?#]|$)"):
        raise harness.BenchmarkError(
            f"{CAREGIVER_EMAIL}'s home ({harness.path_of(home.url)}) offers no link to"
            f" patient {patient_id}: is the demo grant for Alex seeded?"
        )
    if not goal_page.startswith(f"/p/{patient_id}/"):
        raise harness.BenchmarkError(f"goal page {goal_page} is not patient {patient_id}'s")


def entries_api(goal_page: str) -> str:
    """/api/v1/patients/<p>/goals/<g>/entries for the goal page /p/<p>/goals/<g>."""
    parts = goal_page.strip("/").split("/")
    return f"/api/v1/patients/{parts[1]}/goals/{parts[3]}/entries"


def fresh_key(n: int) -> str:
    return f"one-{n}-{secrets.token_hex(8)}"


def past_days(count: int = BACKDATE_DAYS) -> list[str]:
    """Yesterday and the days before it (never today: the patient's day may lag UTC)."""
    today = date.today()
    return [(today - timedelta(days=d)).isoformat() for d in range(1, count + 1)]


def hammer_scenario(patient: harness.Client, goal_page: str, csrf: str) -> Scenario:
    """Today's scenario, kept as the worst case: every POST on one goal, on one day."""
    base = Scenario(
        "post an entry: one goal (worst case)",
        entries_api(goal_page),
        method="POST",
        body='{"value": 20, "note": "bench walk"}',
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf},
        cookie=patient.cookie_header(),
        expect_status=201,
        lua=UNIQUE_KEY_LUA,
    )
    return replace(
        base,
        vary=lambda n: replace(
            base, headers={**base.headers, "Idempotency-Key": fresh_key(n)}, vary=None
        ),
    )


def spread_scenario(base_url: str, writers: int) -> Scenario:
    """Entry POSTs from `writers` signed-in patients, each on their own goal, many days."""
    posts = []  # (path, cookie, csrf) per writer
    for n in range(writers):
        client = harness.login_client(base_url, f"panel{n}@example.com", DEMO_PASSWORD)
        goal_page = harness.find_link(client.get("/").text, GOAL_LINK_PATTERN)
        if not goal_page:
            raise harness.BenchmarkError(f"panel{n}@example.com has no goal link on their home")
        csrf = harness.find_csrf_token(client.get(goal_page).text)
        if not csrf:
            raise harness.BenchmarkError(f"no CSRF token on {goal_page}")
        posts.append((entries_api(goal_page), client.cookie_header(), csrf))
    days = past_days()
    lua = (
        "writers = {"
        + ", ".join("{" + ", ".join(harness.lua_string(v) for v in post) + "}" for post in posts)
        + "}\n"
        + "days = {"
        + ", ".join(harness.lua_string(d) for d in days)
        + "}\n"
        + f"body = {harness.lua_string(ENTRY_BODY.format(day='%s'))}\n"
        + SPREAD_LUA
    )

    def one(n: int) -> Scenario:
        path, cookie, csrf = posts[n % len(posts)]
        return Scenario(
            "one spread POST",
            path,
            method="POST",
            body=ENTRY_BODY.format(day=days[(n // len(posts)) % len(days)]),
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": csrf,
                "Idempotency-Key": fresh_key(n),
            },
            cookie=cookie,
            expect_status=201,
        )

    return Scenario(
        f"post an entry: {writers} patients, own goals, {len(days)} days",
        posts[0][0],
        method="POST",
        target_ratio=POST_ENTRY_TARGET_RATIO,
        expect_status=201,
        lua=lua,
        vary=one,
    )


PATIENT_PLAN = "patient plan page"
GOAL_PAGE = "goal page (chart + thread)"


def portal_scenarios(server: harness.GunicornServer, writers: int) -> list[Scenario]:
    """Scenarios for the portal; called once the server answers."""
    patient = harness.login_client(server.base_url, PATIENT_EMAIL, DEMO_PASSWORD)
    clinician = harness.login_client(
        server.base_url, CLINICIAN_EMAIL, DEMO_PASSWORD, totp_secret=CLINICIAN_TOTP_SECRET
    )
    caregiver = harness.login_client(server.base_url, CAREGIVER_EMAIL, DEMO_PASSWORD)
    plan_page = discover(patient, PATIENT_PLAN_PATH)
    goal_page = harness.find_link(patient.get("/").text, GOAL_LINK_PATTERN) or ""
    csrf = harness.find_csrf_token(patient.get(goal_page).text) or ""
    caregiver_pages(caregiver, plan_page, goal_page)
    return [
        Scenario(
            PATIENT_PLAN,
            plan_page,
            cookie=patient.cookie_header(),
            target_ratio=PLAN_TARGET_RATIO,
        ),
        Scenario(
            "caregiver plan page (Sam for Alex)",
            plan_page,
            cookie=caregiver.cookie_header(),
            target_ratio=PLAN_TARGET_RATIO,
            same_as=PATIENT_PLAN,
        ),
        Scenario(
            "clinician plan view",
            discover(clinician, CLINICIAN_PLAN_PATH),
            cookie=clinician.cookie_header(),
            target_ratio=PLAN_TARGET_RATIO,
        ),
        Scenario(
            GOAL_PAGE,
            goal_page,
            cookie=patient.cookie_header(),
            target_ratio=GOAL_PAGE_TARGET_RATIO,
        ),
        Scenario(
            "caregiver goal page (Sam for Alex)",
            goal_page,
            cookie=caregiver.cookie_header(),
            target_ratio=GOAL_PAGE_TARGET_RATIO,
            same_as=GOAL_PAGE,
        ),
        Scenario(
            f"clinician inbox ({PANEL_SIZE}-patient panel)",
            "/clinic/inbox",
            cookie=clinician.cookie_header(),
            target_ratio=INBOX_TARGET_RATIO,
        ),
        # The writes go last: each leaves work behind it (the deliverer's queue of the
        # team's notices, PostgreSQL's autovacuum) that the next scenario would pay for.
        # After 60 s of the spread POST, the PostgreSQL inbox answered 583 req/s
        # against 646 without it, its workers and server each using a tenth more CPU.
        spread_scenario(server.base_url, writers),
        hammer_scenario(patient, goal_page, csrf),
    ]


def floor_scenarios(portal: list[Scenario]) -> list[Scenario]:
    """The measuring routes of `benchmarks/floor_app.py`, signed in like the real pages."""
    post = next(s for s in portal if s.method == "POST" and s.cookie)  # the hammer's patient
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
        Scenario(
            "floor: the kept inbox's read + audit event, no page",
            "/floor/inbox-read-audited",
            cookie=inbox.cookie,
            target_ratio=INBOX_TARGET_RATIO,
        ),
    ]


def measure_portal(
    env: dict[str, str],
    args: argparse.Namespace,
    settings: harness.Settings,
    bare_url: str,
    label: str,
) -> list[harness.ScenarioResult]:
    """Serve the (seeded) portal and benchmark its scenarios, paired with `bare_url`."""
    target = "benchmarks.floor_app:app" if args.floors else "wsgi:app"
    print(f"portal on {label} ({target}, statements counted by benchmarks/counting_app.py)")

    def scenarios(server: harness.GunicornServer) -> list[Scenario]:
        portal = portal_scenarios(server, args.writers)
        if args.floors:
            portal = [s for s in portal if s.method == "POST" or s.path == "/clinic/inbox"]
            portal += floor_scenarios(portal)
        return [replace(s, label=label) for s in portal if args.only in s.name]

    with databases.deliverer(env):
        results = harness.run_scenarios(
            "benchmarks.counting_app:app",
            scenarios,
            env={**env, "BENCH_APP": target},
            settings=settings,
            baseline_url=bare_url,
        )
    for r in results:
        r.scenario = replace(r.scenario, label=label)
    return results


def failed_setup(label: str, error: str) -> harness.ScenarioResult:
    result = harness.ScenarioResult(Scenario("portal setup", "/", label=label), "wsgi:app")
    result.error = error
    return result


def run_database(
    kind: str, args: argparse.Namespace, settings: harness.Settings, bare_url: str
) -> list[harness.ScenarioResult]:
    """Seed a fresh database of `kind`, measure; with --large grow it and measure again."""
    results: list[harness.ScenarioResult] = []
    try:
        with databases.database_url(kind) as url:
            env = databases.portal_env(url)
            print(f"{kind}: seeding the demo clinic and a {PANEL_SIZE}-patient panel")
            databases.seed_demo(env, PANEL_SIZE, args.writers)
            results += measure_portal(env, args, settings, bare_url, kind)
            if args.large:
                label = f"{kind}, large"
                print(
                    f"{kind}: adding {args.large_patients:,} patients and"
                    f" {args.large_entries:,} entries"
                )
                took = databases.seed_large(env, args.large_patients, args.large_entries)
                print(f"{kind}: seeded in {took:.0f} s")
                results += measure_portal(env, args, settings, bare_url, label)
    except harness.BenchmarkError as exc:
        results.append(failed_setup(kind, str(exc)))
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = harness.Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres", "both"),
        default="both",
        help="which database(s) to measure (default: both, SQLite first)",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help=f"then grow each database by {LARGE_PATIENTS:,} patients and"
        f" {LARGE_ENTRIES:,} entries and measure again",
    )
    parser.add_argument(
        "--large-patients", type=int, default=LARGE_PATIENTS, help=argparse.SUPPRESS
    )
    parser.add_argument("--large-entries", type=int, default=LARGE_ENTRIES, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=int, default=defaults.duration, help="s per round")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="s of warm-up")
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 round of 3 s after 1 s of warm-up (numbers are rough)",
    )
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument(
        "--writers",
        type=int,
        default=WRITERS,
        help=f"patients the spread entry POST signs in as (default {WRITERS})",
    )
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
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3, 1
    if not 1 <= args.writers <= PANEL_SIZE:
        parser.error(f"--writers must be between 1 and {PANEL_SIZE}")
    return args


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
    kinds = databases.DATABASES if args.db == "both" else (args.db,)

    # The bare app runs alongside the portal, and each portal round is paired
    # with a bare round run just before it: ratios compare like with like
    # even when the machine's speed drifts during the run.
    print("bare Flask app (baseline, one round before each portal round)")
    bare_scenario = Scenario("bare Flask app", "/")
    bare = harness.ScenarioResult(bare_scenario, "benchmarks.bare_app:app")
    results: list[harness.ScenarioResult] = []
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
            for kind in kinds:
                results += run_database(kind, args, settings, bare_url)
            bare.worker_rss_mb = bare_server.worker_rss_mb()
    except harness.BenchmarkError as exc:
        bare.error = str(exc)
    bare.rounds = [b for r in results for b in r.baseline_rounds]

    print()
    failed = report.print_report(bare, results, settings)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
