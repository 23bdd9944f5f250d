#!/usr/bin/env bash
# Lint, type-check, check the import contracts, then every test. The local stack is started by the
# test session itself (tests/conftest.py) and stopped at its end; a service that does not come up
# fails the run by name.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
echo "== ruff"; "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== import contracts (the deploy boundary, pyproject.toml [tool.importlinter])"; "$VENV/bin/lint-imports"
echo "== pytest"; "$VENV/bin/pytest" "$@"
