# notes-api: `make run` serves the API on an embedded SQLite file; `make test` runs the suite.
# Both create .venv on first use, with the versions in uv.lock; nothing but Python 3.11+ and
# make is needed: the lock tool, uv, is installed from PyPI into .tools/ on first use.
# `make bench` / `make soak` need a local PostgreSQL (BENCH_DATABASE_URL); see docs/performance.md.
# Adding or changing a dependency: edit pyproject.toml, then `make lock`, commit both files.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The lock tool, pinned: the same uv writes and reads uv.lock here, in CI and in the image.
UV_VERSION := 0.13.9
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
# uv uses this machine's Python (never downloads one) and installs into $(VENV).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# tests/deploy run the bootstrapped uv as the image's build does.
export UV := $(abspath $(UV))
SYNC   := $(UV) sync --locked --python $(PYTHON)

.PHONY: run test mutate test-lowest debian-tools openapi screenshots lint format migrate clean bench soak wrk lock

$(UV):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "notes-api needs Python 3.11+"'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'

# Stamp files: reinstall only when the lock or pyproject.toml changes. --locked refuses a
# lock that no longer matches pyproject.toml (run `make lock`); --inexact leaves the other
# extras' packages in place, so `make run` after `make test` keeps the dev tools.
$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(SYNC) --inexact
	@touch $@

$(VENV)/.installed-dev: uv.lock pyproject.toml | $(UV)
	$(SYNC) --inexact --extra dev
	@touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: uv.lock pyproject.toml | $(UV)
	$(SYNC) --inexact --extra bench
	@touch $@ $(VENV)/.installed

# After editing pyproject.toml's dependencies: resolve them again into uv.lock.
# `make lock LOCK_ARGS=--upgrade` moves every package to its newest allowed version.
lock: | $(UV)
	$(UV) lock $(LOCK_ARGS)

run: $(VENV)/.installed
	$(BIN)/notes-api migrate
	$(BIN)/notes-api ensure-demo-users
	@echo "notes-api on http://$(HOST):$(PORT)  (Swagger UI: http://$(HOST):$(PORT)/docs)"
	$(BIN)/notes-api serve --host $(HOST) --port $(PORT)

migrate: $(VENV)/.installed
	$(BIN)/notes-api migrate

# Debian packages some tests drive: Chromium (the browser tests; Playwright never downloads a
# browser) and Caddy (`caddy validate` checks the compose proxy's configuration). As root
# with apt-get, `make test` installs the missing ones; elsewhere it says so and those tests
# skip (in CI, CI=true, they fail instead). Offline or not root: `make test` still passes.
DEBIAN_TOOLS := /usr/bin/chromium:chromium /usr/bin/caddy:caddy
debian-tools:
	@missing=""; for tool in $(DEBIAN_TOOLS); do \
	    [ -x "$${tool%%:*}" ] || missing="$$missing $${tool#*:}"; done; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } \
	|| echo "Not installed:$$missing (apt-get install$$missing): the tests that need them will be skipped"

# The suite runs on TEST_WORKERS processes (pytest-xdist), each taking whole files, each on a
# PostgreSQL database of its own (tests/databases.py): most tests wait on servers, timers and
# the database, so two processes take 0.6-0.8 of the time one does on two cores.
# `make test TEST_WORKERS=0` runs it in this one process (needed for PYTEST_ARGS=--pdb).
# A crashed worker ends the run: replacing it under --dist loadfile can deadlock xdist 3.8
# (pytest-dev/pytest-xdist#784, #1378), and the run would then wait out CI's time limit.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --max-worker-restart=0

# Coverage of the in-process app (servers the tests start as subprocesses are not measured).
test: $(VENV)/.installed-dev debian-tools
	$(BIN)/pytest $(PYTEST_PARALLEL) --cov --cov-report=term $(PYTEST_ARGS)

# Mutation testing of the security-critical modules (tools/mutate.py, docs/testing.md): one
# mutmut run per module, on SQLite, each with the tests that cover that module; every mutant
# runs only those of them that executed the function it changes. Not part of CI's budget.
# `make mutate MUTATE_MODULES=notes_api.auth.tokens` runs one module.
MUTATE_MODULES ?=
MUTATE_CHILDREN ?= 2

$(VENV)/.installed-mutate: uv.lock pyproject.toml | $(UV)
	$(SYNC) --inexact --extra dev --extra mutate
	@touch $@ $(VENV)/.installed-dev $(VENV)/.installed

mutate: $(VENV)/.installed-mutate
	$(BIN)/python tools/mutate.py --max-children $(MUTATE_CHILDREN) $(MUTATE_MODULES)

# CI: the suite once more with every direct dependency at the lowest version pyproject.toml
# allows (uv's lowest-direct resolution, outside the lock), so a lower bound cannot drift
# below what the code needs. The browser tests are left out (they check the page, not bounds),
# and so is the OpenAPI snapshot: pydantic's versions render the same schema differently.
test-lowest: | $(UV)
	rm -rf $(VENV)-lowest  # from scratch: no package left over from an earlier resolution
	$(UV) venv --quiet --python $(PYTHON) $(VENV)-lowest
	$(UV) pip install --quiet --python $(VENV)-lowest/bin/python --resolution lowest-direct -e '.[dev]'
	$(VENV)-lowest/bin/pytest $(PYTEST_PARALLEL) -m 'not browser' -p no:cacheprovider \
	    --ignore=tests/test_openapi_snapshot.py $(PYTEST_ARGS)

# Rewrites docs/openapi.json, the committed API contract, from the served schema.
openapi: $(VENV)/.installed-dev
	UPDATE_OPENAPI=1 $(BIN)/pytest -q tests/test_openapi_snapshot.py

# Rewrites docs/screenshot-*.png from the browser tests that take them.
screenshots: $(VENV)/.installed-dev debian-tools
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -m browser -k screenshot

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests migrations bench tools
	$(BIN)/ruff format --check src tests migrations bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix src tests migrations bench tools
	$(BIN)/ruff format src tests migrations bench tools

# The benchmark's load generator: wrk from Debian when we may install it, else bench/loadgen.py.
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get install -y -qq wrk >/dev/null 2>&1 \
		  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }; }; } \
		|| echo "wrk is not installed: using the Python load generator (bench/loadgen.py)"

bench: $(VENV)/.installed-bench wrk
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.revocation all --json bench/revocation.json

soak: $(VENV)/.installed-bench wrk
	$(BIN)/python -m bench --soak-only $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(VENV)-lowest $(TOOLS) mutants .pytest_cache .mypy_cache .ruff_cache notes.db notes.db-* .jwt-secret .jwt-private-key-*.pem
