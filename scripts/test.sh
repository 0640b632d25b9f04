#!/usr/bin/env bash
# One command: install into .venv/ with the test tools, lint, type-check, run the test suite
# (benchmarks excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
python -m ruff check .
python -m mypy
python -m pytest -m "not benchmark" -q "$@"
