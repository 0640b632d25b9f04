#!/usr/bin/env bash
# One command: install into .venv/, index corpus/ (incremental), serve the API and the chat on the
# embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/assistant serve "$@"
