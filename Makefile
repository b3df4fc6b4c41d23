# Two commands do all set-up on a fresh clone:
#   make demo   — the service on SQLite with sample orders flowing in
#   make test   — lint, types, the import contract and the test suite (SQLite; `make test-postgres` for PostgreSQL)
# Python 3.11 to 3.13 work; another than the default with e.g. `make PYTHON=python3.13 test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The sandbox page's test drives Debian's Chromium (Playwright cannot download its own here).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -q && apt-get install -y -q chromium

# The Prometheus alerting rules are checked and unit-tested with promtool (Debian's prometheus).
PROMTOOL := /usr/bin/promtool

$(PROMTOOL):
	apt-get update -q && apt-get install -y -q --no-install-recommends prometheus

.PHONY: demo test test-postgres bench

demo: $(STAMP)
	$(BIN)/orderbot demo

test: $(STAMP) $(CHROMIUM) $(PROMTOOL)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo
	$(PROMTOOL) check rules deploy/prometheus/orderbot-alerts.yml
	$(BIN)/pytest -q

# Two workers (pytest-xdist): the PostgreSQL suite waits mostly on the server (each test's
# database is created and dropped, and a drop waits for a checkpoint), not on the CPU.
test-postgres: $(STAMP) $(CHROMIUM) $(PROMTOOL)
	ORDERBOT_TEST_DB=postgresql $(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python -m bench.watch_and_ingest
