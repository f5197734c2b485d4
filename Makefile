# CareCircle developer entry points. `make` (or `make help`) lists the targets.
#
# Everything installs itself: CI runs `bash .ci/run` (make test, make
# test-postgres) as root on a fresh clone, so no target may rely on things
# installed by hand.

SHELL := bash
# Fail recipes on the first error, including inside pipelines.
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON_SYS ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
FLASK      := $(PY) -m flask --app wsgi
RUFF       := $(VENV)/bin/ruff
# `python -m pytest` puts the repo root on sys.path, so `wsgi` etc. import.
PYTEST     := $(PY) -m pytest
PYTEST_ARGS ?=

RUN_HOST ?= 127.0.0.1
RUN_PORT ?= 5000

# Stamps record that the venv matches the lock files; they are remade (pip
# re-run) only when a lock file is newer than the stamp.
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP  := $(VENV)/.installed-dev

# Installs come only from the locks (requirements*.txt: exact versions with
# sha256 hashes, written by `make lock`); --require-hashes makes pip refuse
# anything unpinned or unhashed rather than quietly resolving it. The venv's
# own pip is used as it comes: an unpinned `pip install --upgrade pip` would be
# the one install the lock does not cover.
PIP_INSTALL := $(PY) -m pip install --quiet --require-hashes

# `make lock` resolves with uv (a single binary, itself pinned and hashed in
# requirements-dev.txt). uv never reads pip's configuration, so this machine's
# extra local indexes and find-links cannot leak into the lock; --no-config and
# the unset UV_* variables keep uv's own configuration out as well. The lock is
# thus resolved from the public index alone, as a fresh CI machine sees it.
# --universal: one lock valid on every platform and Python >= 3.11
# (pyproject.toml's requires-python), with markers where they differ.
UV         := $(VENV)/bin/uv
LOCK_ARGS  ?=
UV_COMPILE := env -u UV_INDEX -u UV_INDEX_URL -u UV_DEFAULT_INDEX -u UV_EXTRA_INDEX_URL \
  -u UV_FIND_LINKS -u UV_CONSTRAINT -u UV_OVERRIDE -u UV_NO_INDEX -u UV_OFFLINE \
  $(UV) --no-config pip compile --quiet --universal --python-version 3.11 \
  --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)

# System packages each target needs (see scripts/ensure-system-deps.sh).
TEST_SYSDEPS          := chromium
BENCH_SYSDEPS         := wrk postgresql

# Run pytest; make "no tests collected" (exit 5) explicit rather than silent.
define run_pytest
$(1) $(PYTEST) $(2) $(PYTEST_ARGS) || { rc=$$?; \
  if [ "$$rc" -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; fi; \
  exit "$$rc"; }
endef

.PHONY: help venv venv-dev lock run check test test-postgres bench screenshots lighthouse lint format clean distclean js-deps

help: ## Show this list of targets
	@echo "Usage: make TARGET"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON_SYS) -m venv $(VENV)

$(BASE_STAMP): requirements.txt | $(PY)
	$(PIP_INSTALL) -r requirements.txt
	touch $@

# requirements-dev.txt holds the runtime packages too, at the same versions.
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@

venv: $(BASE_STAMP) ## Create .venv with the runtime requirements (from requirements.txt)

venv-dev: $(DEV_STAMP) ## Create .venv with runtime + dev requirements (from requirements-dev.txt)

# Not a prerequisite on the stamp: after a merge the locks may be stale, and
# re-locking must not first need them installable. An existing .venv's uv is
# used as is; only a venv without uv is installed first. uv reads the old lock
# to keep its pins, so a lock left in merge conflict is refused with the way out
# (keep either side; the re-lock adds what the other side brought).
lock: | $(PY) ## Re-lock requirements*.txt from requirements*.in (LOCK_ARGS=--upgrade moves every pin)
	@for f in requirements.txt requirements-dev.txt; do \
	  if grep -qE '^(<<<<<<<|=======|>>>>>>>)' "$$f" 2>/dev/null; then \
	    echo "$$f is in merge conflict: keep one side (git checkout --ours $$f)," \
	      "then make lock again" >&2; exit 1; \
	  fi; \
	done
	@if [ ! -x $(UV) ]; then $(MAKE) --no-print-directory $(DEV_STAMP); fi
	$(UV_COMPILE) -o requirements.txt requirements.in
	$(UV_COMPILE) -o requirements-dev.txt requirements-dev.in

# npm trees, each installed from its lock by `npm ci`. The root one is the
# browser suite's axe-core and nothing else; Lighthouse's ~200 packages live in
# benchmarks/lighthouse/ and only `make lighthouse` installs them. npm ci wipes
# node_modules, so a stamp inside it skips the install while package*.json are
# unchanged.
JS_STAMP         := node_modules/.carecircle-installed
LIGHTHOUSE_DIR   := benchmarks/lighthouse
LIGHTHOUSE_STAMP := $(LIGHTHOUSE_DIR)/node_modules/.carecircle-installed

$(JS_STAMP): package.json package-lock.json
	bash scripts/ensure-system-deps.sh npm
	npm ci --no-audit --no-fund
	touch $@

$(LIGHTHOUSE_STAMP): $(LIGHTHOUSE_DIR)/package.json $(LIGHTHOUSE_DIR)/package-lock.json
	bash scripts/ensure-system-deps.sh npm
	cd $(LIGHTHOUSE_DIR) && npm ci --no-audit --no-fund
	touch $@

js-deps: $(JS_STAMP)

# The notifier and the mail deliverer run in the background for as long as the
# dev server does; the trap stops them however the server ends (Ctrl-C, crash,
# normal exit). Without MAIL_SERVER, mails are printed here.
run: export PORTAL_ENV ?= development
run: $(BASE_STAMP) ## Migrate, seed demo data, serve on 127.0.0.1:5000 with the notifier and mailer
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	@$(FLASK) notify deliver --loop & notifier=$$!; \
	$(FLASK) mail deliver --loop & mailer=$$!; \
	trap 'kill "$$notifier" "$$mailer" 2>/dev/null || true; \
	  wait "$$notifier" "$$mailer" 2>/dev/null || true' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	$(FLASK) run --host $(RUN_HOST) --port $(RUN_PORT)

check: $(DEV_STAMP) ## Everything CI runs: lint, then the whole suite on SQLite and PostgreSQL side by side
	bash scripts/ensure-system-deps.sh $(TEST_SYSDEPS) postgresql
	@$(MAKE) --no-print-directory js-deps
	$(RUFF) check .
	$(RUFF) format --check .
	bash scripts/test-both.sh $(PY) $(PYTEST_ARGS)

test: $(DEV_STAMP) ## Lint, format check, then the test suite on SQLite
	bash scripts/ensure-system-deps.sh $(TEST_SYSDEPS)
	@$(MAKE) --no-print-directory js-deps
	$(RUFF) check .
	$(RUFF) format --check .
	$(call run_pytest,)

# The browser suite serves its own live app on SQLite whatever the database
# under test, and `make test` has run it; here it would only repeat itself.
test-postgres: $(DEV_STAMP) ## The test suite against a throwaway PostgreSQL cluster
	bash scripts/ensure-system-deps.sh postgresql
	$(call run_pytest,bash scripts/with-postgres.sh,-m "not browser")

bench: $(DEV_STAMP) ## Benchmark the pages on SQLite and PostgreSQL against a bare Flask app (wrk + gunicorn)
	bash scripts/ensure-system-deps.sh $(BENCH_SYSDEPS)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

screenshots: $(DEV_STAMP) ## Refresh the README's phone-sized screenshots in docs/screenshots/
	bash scripts/ensure-system-deps.sh $(TEST_SYSDEPS)
	@$(MAKE) --no-print-directory js-deps
	UPDATE_SCREENSHOTS=1 $(PYTEST) -q tests/browser/test_screenshots.py \
	  tests/browser/test_pwa_offline.py tests/browser/test_flows.py

lighthouse: $(DEV_STAMP) $(LIGHTHOUSE_STAMP) ## Lighthouse scores (performance, accessibility, best practices) of the plan page
	bash scripts/ensure-system-deps.sh $(TEST_SYSDEPS)
	$(PY) benchmarks/lighthouse.py --runs 3

lint: $(DEV_STAMP) ## ruff check + ruff format --check
	$(RUFF) check .
	$(RUFF) format --check .

format: $(DEV_STAMP) ## Apply ruff fixes and formatting
	$(RUFF) check --fix .
	$(RUFF) format .

clean: ## Remove caches (keeps .venv and node_modules)
	find . -path ./$(VENV) -prune -o -name node_modules -prune -o \
	  -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache htmlcov .coverage

distclean: clean ## clean, plus remove .venv and node_modules
	rm -rf $(VENV) node_modules $(LIGHTHOUSE_DIR)/node_modules
