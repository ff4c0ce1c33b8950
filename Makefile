# Service360: `make run` to serve the demo, `make test` to run the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run test lint schema bench conformance install clean

help:  ## this list
	@echo "Service360: make run (serve the demo at http://127.0.0.1:8000/graphql), make test"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  make \1\t\2/' | expand -t 20
	@echo "  python server.py --help and python server.py serve --help: commands and settings"

install: $(STAMP)  ## create .venv and install the pinned dependencies

$(STAMP): pyproject.toml
	@echo "== installing Service360 into $(VENV) (the first time takes about half a minute) =="
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)
	@echo "== installed =="

run: $(STAMP)  ## embedded PostgreSQL, migrations, demo data, GraphiQL at :8000/graphql
	@echo "== starting: embedded PostgreSQL under .data/, migrations, demo data (once), then the server =="
	$(PY) server.py serve --demo

test: $(STAMP)  ## the whole suite (embedded PostgreSQL; TEST_DATABASE_URL for another)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

schema: $(STAMP)  ## write the SDL to schema.graphql
	$(PY) server.py export-schema > schema.graphql

# graphql-http's auditServer against a live server on a scratch database:
# one line per audit; fails on any MUST failure (and on SHOULD warnings).
conformance: $(STAMP)  ## GraphQL-over-HTTP audit against a live server
	$(PY) -m pytest tests/test_conformance.py -s -q

bench: $(STAMP)  ## the benchmark (BENCH_SCALE=S|M|L, README)
	$(PY) -m bench

clean:  ## remove .venv and .data (the embedded databases)
	rm -rf $(VENV) .data
