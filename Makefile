# notes-api: `make run` serves the API on an embedded SQLite file; `make test` runs the suite.
# Both create .venv on first use; nothing but Python 3.11+ and make is needed.
# `make bench` / `make soak` need a local PostgreSQL (BENCH_DATABASE_URL); see docs/performance.md.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
CHROMIUM := /usr/bin/chromium

.PHONY: run test screenshots lint format migrate clean bench soak wrk

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "notes-api needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/notes-api migrate
	$(BIN)/notes-api ensure-demo-users
	@echo "notes-api on http://$(HOST):$(PORT)  (Swagger UI: http://$(HOST):$(PORT)/docs)"
	$(BIN)/notes-api serve --host $(HOST) --port $(PORT)

migrate: $(VENV)/.installed
	$(BIN)/notes-api migrate

# The browser tests drive Debian's Chromium; Playwright never downloads a browser.
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    || { echo "Install Chromium (apt-get install chromium), or run: $(BIN)/pytest -m 'not browser'"; exit 1; }

test: $(VENV)/.installed-dev $(CHROMIUM)
	$(BIN)/pytest $(PYTEST_ARGS)

# Rewrites docs/screenshot-*.png from the browser tests that take them.
screenshots: $(VENV)/.installed-dev $(CHROMIUM)
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -m browser -k screenshot

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix src tests migrations bench
	$(BIN)/ruff format src tests migrations bench

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache notes.db notes.db-* .jwt-secret
