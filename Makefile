# Service360: `make run` to serve the demo, `make test` to run the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint schema bench conformance install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) server.py serve --demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

schema: $(STAMP)
	$(PY) server.py export-schema > schema.graphql

# graphql-http's auditServer against a live server on a scratch database:
# one line per audit; fails on any MUST failure (and on SHOULD warnings).
conformance: $(STAMP)
	$(PY) -m pytest tests/test_conformance.py -s -q

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .data
