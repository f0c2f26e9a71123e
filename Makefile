# Everything a fresh machine needs is created here; no manual steps.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SIM_PORT ?= 8090
PORT ?= 8000

.PHONY: install browser services run test bench sim sim-bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Browser tests drive Debian's Chromium (never a downloaded one); install it when missing.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium is not installed and this is not root: browser tests will be skipped"

## Serve the app on http://localhost:$(PORT) on embedded defaults (SQLite, in-process
## channel layer and jobs, the Grok simulator when no XAI_API_KEY is set).
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py serve --port $(PORT)

## Run every test (set DATABASE_URL and REDIS_URL for the production shape).
test: $(STAMP) browser
	DB_CONN_MAX_AGE=0 $(PY) -m pytest

## PostgreSQL and Redis running (started when they are not).
services:
	bash scripts/services.sh

## What the app adds to Grok's latency at 1 to 500 streams, both shapes, and from Send
## when 1 to 200 people press it at once or 100 over 5 s (bench/results/).
## BENCH_ARGS passes options: make bench BENCH_ARGS="--from-send-only --runs 2 --name x"
BENCH_ARGS ?=
bench: $(STAMP) services
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) -m bench.run $(BENCH_ARGS)

## Serve the Grok simulator on http://127.0.0.1:$(SIM_PORT)/v1
sim: $(STAMP)
	$(PY) -m chat.grok.simulator --port $(SIM_PORT)

## How many concurrent 50 tokens/s streams the simulator sustains on this machine.
sim-bench: $(STAMP)
	$(PY) -m bench.sim_capacity

clean:
	rm -rf $(VENV) .pytest_cache
