"""Interleaved A/B: one scenario served by two versions of the portal, round for round.

    .venv/bin/python benchmarks/ab.py --base HEAD~1 --only "30 patients"

A full `make bench` run compares the portal with the bare app; two runs minutes
apart differ by more than most changes (this machine's speed moves by a
third). This compares two trees of the portal directly: the working tree (B)
and a git revision checked out into a temporary worktree (A), each served by
its own gunicorn on the same seeded database, beside one bare app and the
notification deliverer (of the working tree). Each round measures the bare app
and then one tree, the trees alternating which goes first, and the ratio of
each round is to the bare round just before it. The medians are printed, and
how many pairs B won.

SQLite by default, PostgreSQL with `--db postgres`; the scenarios are
`benchmarks/run.py`'s, chosen by `--only` (one scenario: the first that
matches).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import databases
import harness
import run

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git revision for A (default HEAD)")
    parser.add_argument("--only", required=True, help="the scenario whose name contains this")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per tree")
    parser.add_argument("--duration", type=int, default=6, help="s per round")
    parser.add_argument("--writers", type=int, default=run.WRITERS)
    return parser.parse_args(argv)


def scenario_for(server: harness.GunicornServer, only: str, writers: int) -> harness.Scenario:
    for scenario in run.portal_scenarios(server, writers):
        if only in scenario.name:
            return scenario
    raise harness.BenchmarkError(f"no scenario's name contains {only!r}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = harness.Settings()
    ratios: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
        try:
            with databases.database_url(args.db) as url:
                env = databases.portal_env(url)
                print(f"{args.db}: seeding the demo clinic and a {run.PANEL_SIZE}-patient panel")
                databases.seed_demo(env, run.PANEL_SIZE, args.writers)
                trees = {"A": base, "B": REPO_ROOT}
                with (
                    harness.GunicornServer("benchmarks.bare_app:app") as bare,
                    databases.deliverer(env),
                    harness.GunicornServer(
                        "wsgi:app", {**env, "PYTHONPATH": str(base)}, cwd=base
                    ) as server_a,
                    harness.GunicornServer("wsgi:app", env) as server_b,
                ):
                    bare_url = bare.base_url + "/"
                    loads = {}
                    for name, server in (("A", server_a), ("B", server_b)):
                        scenario = scenario_for(server, args.only, args.writers)
                        harness.preflight(server, scenario)
                        url, script = server.base_url + scenario.path, harness.wrk_script(scenario)
                        harness.run_wrk(url, settings, settings.warmup, script)  # warm-up
                        loads[name] = (url, script)
                    print(f"{scenario.name}: A = {args.base}, B = the working tree ({trees['B']})")
                    for n in range(args.rounds):
                        order = ("A", "B") if n % 2 == 0 else ("B", "A")
                        line = []
                        for name in order:
                            paired = harness.run_wrk(bare_url, settings, args.duration)
                            url, script = loads[name]
                            measured = harness.run_wrk(url, settings, args.duration, script)
                            if measured.non_2xx_3xx:
                                raise harness.BenchmarkError(
                                    f"{name}: {measured.non_2xx_3xx} answers were not 2xx/3xx"
                                )
                            ratio = measured.requests_per_sec / paired.requests_per_sec
                            ratios[name].append(ratio)
                            line.append(
                                f"{name} {ratio:.3f} ({measured.requests_per_sec:,.0f}"
                                f" / bare {paired.requests_per_sec:,.0f} req/s)"
                            )
                        print(f"round {n + 1}: " + "   ".join(line), flush=True)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)],
                cwd=REPO_ROOT,
                check=False,
                capture_output=True,
            )
    wins = sum(b > a for a, b in zip(ratios["A"], ratios["B"], strict=True))
    for name in ("A", "B"):
        print(f"{name}: median {statistics.median(ratios[name]):.3f}")
    print(f"B beat A in {wins} of {args.rounds} pairs")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
