#!/usr/bin/env bash
# One command: install with the test tools, lint, type-check, run the test suite (benchmarks excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
python3 -m ruff check .
python3 -m mypy
python3 -m pytest -m "not benchmark" -q "$@"
