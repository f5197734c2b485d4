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

# Stamps record that the venv matches the requirements files; they are remade
# (pip re-run) only when a requirements file is newer than the stamp.
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP  := $(VENV)/.installed-dev

# System packages each target needs (see scripts/ensure-system-deps.sh).
TEST_SYSDEPS          := chromium
BENCH_SYSDEPS         := wrk

# Run pytest; make "no tests collected" (exit 5) explicit rather than silent.
define run_pytest
$(1) $(PYTEST) $(2) $(PYTEST_ARGS) || { rc=$$?; \
  if [ "$$rc" -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; fi; \
  exit "$$rc"; }
endef

.PHONY: help venv venv-dev run test test-postgres bench screenshots lighthouse lint format clean distclean js-deps

help: ## Show this list of targets
	@echo "Usage: make TARGET"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON_SYS) -m venv $(VENV)

$(BASE_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BASE_STAMP) ## Create .venv with the runtime requirements

venv-dev: $(DEV_STAMP) ## Create .venv with runtime + dev requirements

# Front-end test deps (axe-core) only when the project declares them. npm ci
# wipes node_modules, so a stamp skips it while package*.json are unchanged.
js-deps:
	@if [ -f package.json ]; then \
	  bash scripts/ensure-system-deps.sh npm; \
	  stamp=node_modules/.carecircle-installed; \
	  if [ ! -f "$$stamp" ] || [ package.json -nt "$$stamp" ] \
	     || { [ -f package-lock.json ] && [ package-lock.json -nt "$$stamp" ]; }; then \
	    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
	    else npm install --no-audit --no-fund; fi; \
	    touch "$$stamp"; \
	  fi; \
	fi

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

bench: $(DEV_STAMP) ## Benchmark the app against a bare Flask app (wrk + gunicorn)
	bash scripts/ensure-system-deps.sh $(BENCH_SYSDEPS)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

screenshots: $(DEV_STAMP) ## Refresh the README's phone-sized screenshots in docs/screenshots/
	bash scripts/ensure-system-deps.sh $(TEST_SYSDEPS)
	@$(MAKE) --no-print-directory js-deps
	UPDATE_SCREENSHOTS=1 $(PYTEST) -q tests/browser/test_screenshots.py \
	  tests/browser/test_pwa_offline.py tests/browser/test_flows.py

lighthouse: $(DEV_STAMP) ## Lighthouse scores (performance, accessibility, best practices) of the plan page
	bash scripts/ensure-system-deps.sh $(TEST_SYSDEPS)
	@$(MAKE) --no-print-directory js-deps
	$(PY) benchmarks/lighthouse.py --runs 3

lint: $(DEV_STAMP) ## ruff check + ruff format --check
	$(RUFF) check .
	$(RUFF) format --check .

format: $(DEV_STAMP) ## Apply ruff fixes and formatting
	$(RUFF) check --fix .
	$(RUFF) format .

clean: ## Remove caches (keeps .venv and node_modules)
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o \
	  -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache htmlcov .coverage

distclean: clean ## clean, plus remove .venv and node_modules
	rm -rf $(VENV) node_modules
