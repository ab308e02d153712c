# `make run` and `make test` each build .venv from the project files first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Not taken from the environment, where HOST and PORT often mean something else.
HOST := 127.0.0.1
PORT := 8000

.PHONY: run test e2e lint bench bench-drain bench-sweep bench-production clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# Serves the web application on demo data: the demo user's password is printed once.
run: $(STAMP)
	$(BIN)/samverkan serve --demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The browser tests alone (part of `make test`): Debian's chromium at /usr/bin/chromium.
e2e: $(STAMP)
	$(BIN)/pytest -m e2e tests/e2e

bench: $(STAMP)
	$(BIN)/python -m bench.routing

# The outbox drain to a local SMTP server, against smtplib sending directly.
bench-drain: $(STAMP)
	$(BIN)/python -m bench.drain

# The deadline sweep over 100 000 and 1 000 000 open cases, and one real flow run.
bench-sweep: $(STAMP)
	$(BIN)/python -m bench.sweep --flow

# One and two web processes, one and two Prefect workers, on local PostgreSQL (minutes).
bench-production: $(STAMP)
	$(BIN)/python -m bench.production

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
