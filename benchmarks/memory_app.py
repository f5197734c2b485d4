"""The portal wrapped to report one worker's memory (bench only; `benchmarks/memory.py`).

`benchmarks/memory.py` serves `benchmarks.memory_app:app` under gunicorn instead
of `wsgi:app`. A GET carrying the header `X-Bench-Memory: 1` is answered here,
not by the portal, with JSON about the worker that took it: its pid, VmRSS (and
PSS, USS and anonymous memory from smaps_rollup), the
sizes of the caches that grow while it serves (kept pages, SQLAlchemy's compiled
statements, Jinja's templates, `re`'s patterns, Babel's locale data, WTForms'
translations) and, when the worker runs under tracemalloc (`PYTHONTRACEMALLOC`),
what was allocated since the worker loaded the app, grouped by package. Every
other request goes straight to the portal, so the load runs exactly its code.
Never part of the portal.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wsgi import app as portal

MEMORY_HEADER = "HTTP_X_BENCH_MEMORY"
_loaded = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
_SITE = re.compile(r"/(?:site|dist)-packages/([^/]+)")


def rss_mib() -> float:
    """This process's resident set size (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rollup_mib() -> dict[str, float]:
    """This process's memory from /proc/self/smaps_rollup, in MiB: `rss`; `pss`, shared
    pages divided among the processes sharing them; `uss`, pages no other process
    shares (private clean and dirty); `anon`, anonymous memory (Python's heap)."""
    kib: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split()[:2]
        kib[name.rstrip(":")] = int(value)
    return {
        "rss": round(kib["Rss"] / 1024, 1),
        "pss": round(kib["Pss"] / 1024, 1),
        "uss": round((kib["Private_Clean"] + kib["Private_Dirty"]) / 1024, 1),
        "anon": round(kib["Anonymous"] / 1024, 1),
    }


def package_of(filename: str) -> str:
    """The installed package, `portal`, `<frozen>`, or `stdlib` a source file belongs to."""
    found = _SITE.search(filename)
    if found:
        name = found.group(1)
        return name.removesuffix(".py") if not name.endswith((".so",)) else name.split(".")[0]
    if "/portal/" in filename:
        return "portal"
    if "/templates/" in filename or filename.startswith("<template>"):
        return "templates"
    if filename.startswith("<"):
        return filename
    return "stdlib"


def by_package(sizes_by_file: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Bytes per package from (source file, bytes) pairs, largest first."""
    sizes: dict[str, int] = {}
    for filename, size in sizes_by_file:
        key = package_of(filename)
        sizes[key] = sizes.get(key, 0) + size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def cache_sizes() -> dict[str, Any]:
    """Entries (and bytes where they are known) of the caches a worker fills while serving."""
    from portal import pagecache

    kept = pagecache.cache_of(portal)
    with portal.app_context():
        from portal.extensions import db

        compiled = db.engine._compiled_cache
    sizes: dict[str, Any] = {
        "kept pages": len(kept),
        "kept pages, characters": sum(len(v) for v in list(kept._items.values())),
        "kept pages, bytes held": sum(sys.getsizeof(v) for v in list(kept._items.values())),
        "sqlalchemy compiled cache": len(compiled) if compiled is not None else 0,
        "jinja templates": len(portal.jinja_env.cache or {}),
        "re patterns": len(re._cache),  # type: ignore[attr-defined]
    }
    babel = sys.modules.get("babel.localedata")
    if babel is not None:
        sizes["babel locales loaded"] = sorted(babel._cache)  # type: ignore[attr-defined]
    return sizes


def report() -> dict[str, Any]:
    gc.collect()
    answer: dict[str, Any] = {
        "pid": os.getpid(),
        "rss_mib": round(rss_mib(), 1),
        "smaps_rollup_mib": rollup_mib(),
        "modules": len(sys.modules),
        "gc objects": len(gc.get_objects()),
        "caches": cache_sizes(),
    }
    if _loaded is not None:
        now = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        diff = now.compare_to(_loaded, "filename")
        grown = by_package((d.traceback[0].filename, d.size_diff) for d in diff)
        answer["grown since load, KiB"] = {k: round(v / 1024) for k, v in grown.items() if v}
        answer["traced now, MiB"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
    return answer


def trimmed() -> float:
    """VmRSS after glibc's malloc_trim(0) hands free heap pages back: what fragmentation held."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return round(rss_mib(), 1)


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    asked = environ.get(MEMORY_HEADER)
    if asked not in ("1", "trim"):
        return portal(environ, start_response)
    answer = report()
    if asked == "trim":
        answer["rss_mib after malloc_trim"] = trimmed()
    body = json.dumps(answer).encode()
    time.sleep(0.2)  # so that the next report asked at once goes to another worker
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]
