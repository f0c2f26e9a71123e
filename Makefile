# Everything a fresh machine needs is created here; no manual steps.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SIM_PORT ?= 8090

.PHONY: install test sim sim-bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Run every test.
test: $(STAMP)
	$(PY) -m pytest

## Serve the Grok simulator on http://127.0.0.1:$(SIM_PORT)/v1
sim: $(STAMP)
	$(PY) -m chat.grok.simulator --port $(SIM_PORT)

## How many concurrent 50 tokens/s streams the simulator sustains on this machine.
sim-bench: $(STAMP)
	$(PY) -m bench.sim_capacity

clean:
	rm -rf $(VENV) .pytest_cache
