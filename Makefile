# The two commands a new user runs are `make demo` and `make test`; each installs what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SCENARIO ?= default

.PHONY: demo test setup lint typecheck unit stack-up stack-down stack-status drill bench host status failover clean

demo: setup  ## Run the failover drill on the local two-region stack and print its report.
	$(PY) -m dev.drill --scenario default

test: setup  ## Lint, type-check and run every test against the real local services.
	scripts/test.sh

setup: $(VENV)/.installed node_modules/.installed  ## Install Python, npm and Debian dependencies.
	@scripts/ensure-system-deps.sh

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3.11 -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

unit: setup  ## Fast tests only (no local services).
	$(VENV)/bin/pytest tests/unit -q

stack-up: setup  ## Start Azurite, two Redis, the Cosmos server and the Service Bus endpoint.
	$(PY) -m dev.stack up

stack-down:
	$(PY) -m dev.stack down

stack-status:
	$(PY) -m dev.stack status

host: setup  ## Run both regions (DC04, DC06) as separate processes against the local stack.
	$(PY) -m dev.host run

status:
	$(PY) -m dev.host status

failover:
	$(PY) -m dev.host failover --to $(TO) --reason "$(REASON)"

drill: setup  ## `make drill SCENARIO=<name|all>`
	$(PY) -m dev.drill --scenario $(SCENARIO)

bench: setup  ## Translation benchmark; results go to docs/benchmarks.md by hand.
	$(PY) -m bench.translate

clean: stack-down
	rm -rf .local out .mypy_cache .ruff_cache .pytest_cache
