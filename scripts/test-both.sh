#!/usr/bin/env bash
# The whole suite on both databases at once, in three processes: the SQLite suite
# in the foreground, the browser suite (which serves its own SQLite app) and the
# PostgreSQL suite (without the browser suite) beside it. The others' output is
# held back and printed after, so nothing interleaves. All run to the end; any
# failing fails the run.
#
# Three, not two, because the browser suite is over half of the SQLite side's
# time: with two processes on two cores the PostgreSQL suite ended minutes
# before the SQLite one and a core sat idle (CI, 2026-12-02: 807 s against 624 s).
# With test arguments given (a file, -k), it runs as two processes, SQLite with
# whatever browser tests were chosen, so a selection never "collects nothing".
#
# Usage: scripts/test-both.sh PYTHON [PYTEST_ARGS...]   (make check calls it)
set -uo pipefail

py=${1:?usage: $0 PYTHON [PYTEST_ARGS...]}
shift

pg_log=$(mktemp "${TMPDIR:-/tmp}/carecircle-pg-suite.XXXXXX")
browser_log=$(mktemp "${TMPDIR:-/tmp}/carecircle-browser-suite.XXXXXX")
trap 'rm -f "$pg_log" "$browser_log"' EXIT

# No cache plugin in the background runs: they would write .pytest_cache at once.
bash scripts/with-postgres.sh "$py" -m pytest -m "not browser" -p no:cacheprovider "$@" \
  >"$pg_log" 2>&1 &
pg_pid=$!

browser_rc=0
if [[ $# -eq 0 ]]; then
  "$py" -m pytest -m browser -p no:cacheprovider >"$browser_log" 2>&1 &
  browser_pid=$!
  echo "== SQLite suite (the browser and PostgreSQL suites running beside it) =="
  "$py" -m pytest -m "not browser"
  sqlite_rc=$?
  wait "$browser_pid"
  browser_rc=$?
  echo
  echo "== Browser suite (Chromium, on its own SQLite app) =="
  cat "$browser_log"
else
  echo "== SQLite suite (PostgreSQL suite running beside it) =="
  "$py" -m pytest "$@"
  sqlite_rc=$?
fi

wait "$pg_pid"
pg_rc=$?
echo
echo "== PostgreSQL suite =="
cat "$pg_log"

for pair in "SQLite:$sqlite_rc" "Browser:$browser_rc" "PostgreSQL:$pg_rc"; do
  name=${pair%%:*} rc=${pair##*:}
  if [[ $rc -eq 5 ]]; then
    echo "$name suite: pytest collected no tests (exit 5)" >&2
  elif [[ $rc -ne 0 ]]; then
    echo "$name suite failed (exit $rc)" >&2
  fi
done
[[ $sqlite_rc -eq 0 && $browser_rc -eq 0 && $pg_rc -eq 0 ]]
