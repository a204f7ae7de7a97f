# Bevaka: every entry point. `make demo` and `make test` each install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
# pytest-xdist workers: most tests wait on local servers and child processes, so more
# workers than cores pay off; each test file runs whole on one worker (--dist loadfile),
# each worker has its own template database (SQLite file, or a PostgreSQL database).
TEST_WORKERS ?= 4
XDIST := -n $(TEST_WORKERS) --dist loadfile

.PHONY: install install-production lock test test-postgres lint format run demo bench browser clean migration

# The lock files: the exact versions (with hashes) that the suite was run with.
# requirements.lock is what a server installs; requirements-dev.lock adds the dev extras.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Bevaka with its dev extras, from the lock

install-production: ## a server's .venv: the locked runtime dependencies only (no dev extras), Bevaka itself not editable
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps .

lock: $(STAMP) ## regenerate the lock files from pyproject.toml (after adding or upgrading a dependency)
	$(COMPILE) --output-file $(LOCK) pyproject.toml
	$(COMPILE) --extra dev --output-file $(DEV_LOCK) pyproject.toml

browser: ## Debian's Chromium (browser tests; never downloaded by Playwright), poppler-utils (PDF page to PNG) and axe-core (npm)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; \
	fi
	@if [ ! -f node_modules/axe-core/axe.min.js ]; then \
	  if ! command -v npm >/dev/null 2>&1; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; fi; \
	  npm ci --no-audit --no-fund --silent; \
	fi

test: $(STAMP) browser ## lint, then the whole suite on SQLite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(XDIST)

test-postgres: $(STAMP) ## the storage-touching tests again on PostgreSQL (a database per worker)
	BEVAKA_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest $(XDIST) -m storage

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

run: $(STAMP) ## the service: migrate, then run the scheduler
	$(BIN)/bevaka db upgrade
	$(BIN)/bevaka run

demo: $(STAMP) ## the whole pipeline offline on recorded responses
	$(BIN)/bevaka demo

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf var/demo .pytest_cache

migration: $(STAMP) ## a new Alembic revision from the changes in storage/models.py: make migration MSG="add x"
	@test -n "$(MSG)" || { echo 'usage: make migration MSG="what changed"'; exit 2; }
	rm -f /tmp/bevaka-gen.sqlite3
	$(BIN)/python -c "from storage.migrate import upgrade; upgrade('sqlite:////tmp/bevaka-gen.sqlite3')"
	$(BIN)/python -c "import sys; from alembic import command; from storage.migrate import alembic_config; command.revision(alembic_config('sqlite:////tmp/bevaka-gen.sqlite3'), message=sys.argv[1], autogenerate=True)" "$(MSG)"
	$(BIN)/ruff format storage/migrations/versions >/dev/null
