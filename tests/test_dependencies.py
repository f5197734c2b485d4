"""The lock files: every requirement pinned with hashes, and the runtime list true to the code."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A requirement whose comment says this is kept although no module imports it.
NOT_IMPORTED = "Not imported by name"
# What the deployed app runs: the runtime requirements must cover these imports.
APP_SOURCES = [REPO / "portal", REPO / "wsgi.py", REPO / "migrations"]
LOCAL_PACKAGES = {"portal", "wsgi", "migrations"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> dict[str, bool]:
    """Requirement name -> whether its comment says it is not imported; follows -r."""
    found: dict[str, bool] = {}
    comment = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment += line
            continue
        if line.startswith("-r "):
            found |= _requirements(path.parent / line[3:].strip())
        elif match := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line):
            found[_normalise(match.group())] = NOT_IMPORTED in comment
        comment = ""
    return found


def _locked(path: Path) -> dict[str, tuple[str, int]]:
    """Locked name -> (version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            name = _normalise(match.group(1))
            pins[name] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def _third_party_imports() -> set[str]:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    files = [p for src in APP_SOURCES for p in ([src] if src.is_file() else src.rglob("*.py"))]
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - stdlib - LOCAL_PACKAGES


@pytest.mark.parametrize(
    ("source", "lock"),
    [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")],
)
def test_every_requirement_is_locked_with_hashes(source, lock):
    locked = _locked(REPO / lock)
    missing = sorted(_requirements(REPO / source).keys() - locked.keys())
    assert not missing, f"{missing} in {source} but not in {lock}: run `make lock`"
    unhashed = sorted(name for name, (_, hashes) in locked.items() if not hashes)
    assert not unhashed, f"{lock} pins {unhashed} without hashes: run `make lock`"


def test_dev_lock_installs_what_production_installs():
    runtime = _locked(REPO / "requirements.txt")
    dev = _locked(REPO / "requirements-dev.txt")
    versions = {name: version for name, (version, _) in dev.items()}
    differ = {n: (v, versions.get(n)) for n, (v, _) in runtime.items() if versions.get(n) != v}
    assert not differ, f"runtime lock vs dev lock: {differ}; run `make lock`"


def test_every_app_import_is_a_runtime_requirement():
    runtime = _requirements(REPO / "requirements.in")
    providers = packages_distributions()
    undeclared = sorted(
        module
        for module in _third_party_imports()
        if not {_normalise(dist) for dist in providers.get(module, [module])} & runtime.keys()
    )
    assert not undeclared, f"the app imports {undeclared}, which requirements.in does not name"


def test_every_runtime_requirement_is_imported_or_says_why_not():
    providers = packages_distributions()
    imported = {_normalise(d) for m in _third_party_imports() for d in providers.get(m, [m])}
    unused = sorted(
        name
        for name, exempt in _requirements(REPO / "requirements.in").items()
        if not exempt and name not in imported
    )
    assert not unused, (
        f"requirements.in names {unused}, which the app does not import: remove them, "
        f"or say why they stay in a comment starting '{NOT_IMPORTED}'"
    )
