"""The benchmark's report: every scenario on every database side by side, then the targets."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence

import harness
from harness import ScenarioResult, Settings, _fmt


def _labels(results: Sequence[ScenarioResult]) -> list[str]:
    return list(dict.fromkeys(r.scenario.label for r in results))


def _names(results: Sequence[ScenarioResult]) -> list[str]:
    return list(dict.fromkeys(r.scenario.name for r in results))


def _bare_rps(results: Sequence[ScenarioResult], label: str) -> float | None:
    rounds = [
        b.requests_per_sec for r in results if r.scenario.label == label for b in r.baseline_rounds
    ]
    return statistics.median(rounds) if rounds else None


def print_report(
    baseline: ScenarioResult | None,
    results: Sequence[ScenarioResult],
    settings: Settings,
    out: Callable[[str], None] = print,
) -> bool:
    """Print the tables and target checks; return True if anything failed."""
    labels, names = _labels(results), _names(results)
    by_key = {(r.scenario.name, r.scenario.label): r for r in results}
    name_w = max([len(n) for n in names] + [len("bare Flask app (paired rounds)")])
    label_w = max([len(lb) for lb in labels] + [8])

    out(
        f"{'scenario':<{name_w}}  {'database':<{label_w}}  {'req/s':>7}  {'ratio':>5}"
        f"  {'p50 ms':>7}  {'p99 ms':>7}  {'p99/p50':>7}  {'RSS MiB':>7}  {'queries':>7}"
        f"  {'non2xx':>6}"
    )
    for n, label in enumerate(labels):
        first = "bare Flask app (paired rounds)" if n == 0 else ""
        out(f"{first:<{name_w}}  {label:<{label_w}}  {_fmt(_bare_rps(results, label), '.0f'):>7}")
    for name in names:
        first = name
        for label in labels:
            r = by_key.get((name, label))
            if r is None:
                continue
            spread = r.p99_ms / r.p50_ms if r.p50_ms and r.p99_ms is not None else None
            out(
                f"{first:<{name_w}}  {label:<{label_w}}  {_fmt(r.requests_per_sec, '.0f'):>7}"
                f"  {_fmt(r.ratio_to(baseline), '.3f'):>5}  {_fmt(r.p50_ms, '.2f'):>7}"
                f"  {_fmt(r.p99_ms, '.2f'):>7}  {_fmt(spread, '.1f'):>7}"
                f"  {_fmt(r.max_worker_rss_mb, '.0f'):>7}  {r.queries_text:>7}"
                f"  {r.non_2xx_3xx:>6}"
            )
            first = ""

    col_w = max([len(lb) for lb in labels] + [7])
    out("")
    out("side by side: ratio to the bare app (queries per request)")
    out(f"{'scenario':<{name_w}}  {'target':>6}  " + "  ".join(f"{lb:>{col_w}}" for lb in labels))
    for name in names:
        target = next((r.scenario.target_ratio for r in results if r.scenario.name == name), None)
        cells = []
        for label in labels:
            r = by_key.get((name, label))
            cell = (
                "-"
                if r is None
                else "fail"
                if r.failed
                else (f"{_fmt(r.ratio_to(baseline), '.3f')} ({r.queries_text})")
            )
            cells.append(f"{cell:>{col_w}}")
        out(f"{name:<{name_w}}  {_fmt(target, '.2f'):>6}  " + "  ".join(cells))

    paired = [r for r in results if r.baseline_rounds and len(r.baseline_rounds) == len(r.rounds)]
    if paired and settings.rounds > 1:
        out("")
        out("ratio of each round to the bare round just before it:")
        for r in paired:
            ratios = "  ".join(
                f"{x.requests_per_sec / b.requests_per_sec:.3f}"
                for x, b in zip(r.rounds, r.baseline_rounds, strict=True)
                if b.requests_per_sec
            )
            out(f"  {r.scenario.name:<{name_w}}  {r.scenario.label:<{label_w}}  {ratios}")

    out("")
    out(
        f"targets ({settings.rounds} rounds x {settings.duration}s, median; "
        f"wrk -t{settings.threads} -c{settings.connections}; gunicorn -w {settings.workers} sync):"
    )
    load1, cpus = harness.LOAD_AT_START, os.cpu_count() or 1
    if load1 > cpus:
        out(
            f"  note    load average {load1:.1f} on {cpus} cores when the run began:"
            " other work skews these numbers"
        )
    any_failed = False
    rows = ([baseline] if baseline else []) + list(results)
    for r in rows:
        where = f"{r.scenario.name} [{r.scenario.label}]" if r.scenario.label else r.scenario.name
        if r.failed:
            any_failed = True
            out(f"  FAILED  {where}: {r.failed}")
            continue
        if r.socket_errors:
            kinds: dict[str, int] = {}
            for rnd in r.rounds:
                for kind, count in rnd.socket_errors.items():
                    kinds[kind] = kinds.get(kind, 0) + count
            detail = ", ".join(f"{k} {n}" for k, n in kinds.items() if n)
            out(f"  note    {where}: wrk socket errors ({detail})")
        for text, met in harness.checks(r, baseline, settings):
            verdict = "info " if r is baseline else "PASS " if met else "BELOW"
            out(f"  {verdict}   {where}: {text}")
    for text, met in query_checks(results):
        out(f"  {'PASS ' if met else 'GROWS'}   {text}")
    for text, met in same_as_checks(results, baseline):
        out(f"  {'note ' if met is None else 'HOLDS' if met else 'BELOW'}   {text}")
    return any_failed


# A page "holds" for another viewer when it runs no more statements and keeps at
# least this share of the first viewer's ratio: paired single rounds of one page
# still differ by about 10% on this shared machine (read it over --rounds 3 or more).
HOLDS_WITHIN = 0.9


def same_as_checks(
    results: Sequence[ScenarioResult], baseline: ScenarioResult | None
) -> list[tuple[str, bool | None]]:
    """(description, met or None if not measured): each `same_as` scenario against its
    counterpart on the same database."""
    by_key = {(r.scenario.name, r.scenario.label): r for r in results}
    out: list[tuple[str, bool | None]] = []
    for r in results:
        if not r.scenario.same_as:
            continue
        other = by_key.get((r.scenario.same_as, r.scenario.label))
        if other is None:  # e.g. --only caregiver
            where = f"{r.scenario.name} [{r.scenario.label}]"
            out.append((f"{where}: {r.scenario.same_as} not measured, nothing to hold to", None))
            continue
        if r.failed or other.failed:
            continue
        mine, theirs = r.ratio_to(baseline), other.ratio_to(baseline)
        if mine is None or not theirs:
            continue
        fewer = not r.queries or not other.queries or max(r.queries) <= max(other.queries)
        out.append(
            (
                f"{r.scenario.name} [{r.scenario.label}]: {mine:.3f}x bare, {mine / theirs:.2f}"
                f" of the {other.scenario.name}'s {theirs:.3f}x; statements"
                f" {r.queries_text} vs {other.queries_text}",
                mine >= HOLDS_WITHIN * theirs and fewer,
            )
        )
    return out


def query_checks(results: Sequence[ScenarioResult]) -> list[tuple[str, bool]]:
    """(description, met): the statements of a request on the large database are the demo's."""
    by_key = {(r.scenario.name, r.scenario.label): r for r in results}
    out = []
    for (name, label), large in by_key.items():
        if not label.endswith(", large"):
            continue
        demo = by_key.get((name, label.removesuffix(", large")))
        if demo is None or not demo.queries or not large.queries:
            continue
        met = max(large.queries) <= max(demo.queries)
        out.append(
            (
                f"{name} [{demo.scenario.label}]: queries per request, demo {demo.queries_text}"
                f" vs large {large.queries_text}",
                met,
            )
        )
    return out
