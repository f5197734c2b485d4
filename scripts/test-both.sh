#!/usr/bin/env bash
# The whole suite on both databases at once: SQLite (with the browser suite) in
# the foreground, PostgreSQL (without it: the browser suite serves its own
# SQLite app) beside it, its output held back and printed after, so the two
# never interleave. Both always run to the end; either failing fails the run.
#
# Side by side because each suite is one Python process and the machine has at
# least two cores: the run takes as long as the longer suite, not both.
#
# Usage: scripts/test-both.sh PYTHON [PYTEST_ARGS...]   (make check calls it)
set -uo pipefail

py=${1:?usage: $0 PYTHON [PYTEST_ARGS...]}
shift

pg_log=$(mktemp "${TMPDIR:-/tmp}/carecircle-pg-suite.XXXXXX")
trap 'rm -f "$pg_log"' EXIT

# No cache plugin on the PostgreSQL side: the two runs would write .pytest_cache at once.
bash scripts/with-postgres.sh "$py" -m pytest -m "not browser" -p no:cacheprovider "$@" \
  >"$pg_log" 2>&1 &
pg_pid=$!

echo "== SQLite suite (PostgreSQL suite running beside it) =="
"$py" -m pytest "$@"
sqlite_rc=$?

wait "$pg_pid"
pg_rc=$?
echo
echo "== PostgreSQL suite =="
cat "$pg_log"

for pair in "SQLite:$sqlite_rc" "PostgreSQL:$pg_rc"; do
  name=${pair%%:*} rc=${pair##*:}
  if [[ $rc -eq 5 ]]; then
    echo "$name suite: pytest collected no tests (exit 5)" >&2
  elif [[ $rc -ne 0 ]]; then
    echo "$name suite failed (exit $rc)" >&2
  fi
done
[[ $sqlite_rc -eq 0 && $pg_rc -eq 0 ]]
