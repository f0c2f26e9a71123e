# Everything a fresh machine needs is created here; no manual steps.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SIM_PORT ?= 8090
PORT ?= 8000

.PHONY: install browser services run test lint bench sim sim-bench lock lock-upgrade pin-images clean

## The exact versions and hashes of every package, from pyproject.toml's ranges (README,
## "Dependencies"); pip refuses anything whose hash differs. `pip check` fails when
## pyproject.toml has moved on from the lock: run `make lock`.
$(STAMP): pyproject.toml requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/test.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check || { echo "requirements/ does not satisfy pyproject.toml: run make lock"; exit 1; }
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

## Lint, format check, and the import contracts between the project's layers.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## PostgreSQL and Redis running (started when they are not).
services:
	bash scripts/services.sh

## What the app adds to Grok's latency at 1 to 500 streams, both shapes, and from Send
## when 1 to 200 people press it at once or 100 over 5 s (bench/results/).
## BENCH_ARGS passes options: make bench BENCH_ARGS="--from-send-only --runs 2 --name x"
BENCH_ARGS ?=
bench: $(STAMP) services
	$(PY) -m pip install --quiet --require-hashes -r requirements/bench.txt
	$(PY) -m bench.run $(BENCH_ARGS)

## Serve the Grok simulator on http://127.0.0.1:$(SIM_PORT)/v1
sim: $(STAMP)
	$(PY) -m chat.grok.simulator --port $(SIM_PORT)

## How many concurrent 50 tokens/s streams the simulator sustains on this machine.
sim-bench: $(STAMP)
	$(PY) -m bench.sim_capacity

## Write requirements/{runtime,test,bench}.txt from pyproject.toml: the runtime set (what
## the Dockerfile installs), plus the test extra (make install), plus the bench extra;
## each also holds the build backend, and each keeps the versions of the one before it.
## `make lock` changes only what pyproject.toml's ranges require; `make lock-upgrade`
## moves everything to the newest versions within them. Then run `make test`.
UV_VERSION := 0.13.9
LOCK_VENV := .venv-lock
UV := $(LOCK_VENV)/bin/uv
BUILD_REQUIRES := $(PYTHON) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')"
COMPILE = $(BUILD_REQUIRES) | $(UV) pip compile pyproject.toml - --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --quiet $(LOCK_FLAGS)

lock:
	[ -x $(UV) ] && $(UV) --version | grep -q " $(UV_VERSION) " || \
	  { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet uv==$(UV_VERSION); }
	mkdir -p requirements
	$(COMPILE) -o requirements/runtime.txt
	$(COMPILE) --extra test -c requirements/runtime.txt -o requirements/test.txt
	$(COMPILE) --extra test --extra bench -c requirements/test.txt -o requirements/bench.txt

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

## Pin the Dockerfile's and docker-compose.yml's base images to the digests their tags
## point to now (needs Docker and its registry; README, "Dependencies").
pin-images:
	$(PYTHON) scripts/pin_images.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache
