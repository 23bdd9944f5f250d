# The two commands a new user runs are `make demo` and `make test`; each installs what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SCENARIO ?= default

.PHONY: demo test setup lint typecheck unit stack-up stack-down stack-status drill bench bench-pipeline host host-stop stop status failover convert clean

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

host-stop:  ## Stop a running `make host` (both regions); the local stack keeps running.
	$(PY) -m dev.host stop

stop: host-stop stack-down  ## Stop the regions and the local stack.

status:  ## Both regions' status, summarised; `make status ARGS=--json` for their raw answers.
	@$(PY) -m dev.host status $(ARGS)

failover:
	$(PY) -m dev.host failover --to $(TO) --reason "$(REASON)"

drill: setup  ## `make drill SCENARIO=<name|all>`
	$(PY) -m dev.drill --scenario $(SCENARIO)

convert: $(VENV)/.installed  ## `make convert FILE="a.xml [b.xml]" [OUT=dir] [REPORT=report.json] [ARGS="--sender BIC ..."]`
	@test -n "$(FILE)" || { echo 'usage: make convert FILE="statement.xml ..." [OUT=dir] [REPORT=report.json] [ARGS="..."]' >&2; exit 2; }
	@$(PY) -m transformation_runner convert $(FILE) $(if $(OUT),--out "$(OUT)") $(if $(REPORT),--report "$(REPORT)") $(ARGS)

bench: setup  ## Translation benchmark; results go to docs/benchmarks.md by hand.
	$(PY) -m bench.translate

bench-pipeline: setup  ## Ingest and end-to-end, baseline 06b6918 against this tree in one run (docs/benchmarks.md).
	$(PY) -m bench.pipeline --json .local/bench-pipeline.json

clean: stack-down
	rm -rf .local out .mypy_cache .ruff_cache .pytest_cache
